# SPDX-License-Identifier: MIT
# install.cmake -- `cmake --install` rules (included at the end of CMakeLists.txt).
#
#   <prefix>/<libdir>/libquiver.so.<ver> (SONAME libquiver.so.1), libquiver.so, libquiver.a
#   <prefix>/include/quiver.h, quiver_version.h
#   <prefix>/<libdir>/pkgconfig/quiver.pc
#   <prefix>/<libdir>/cmake/quiver/quiverConfig.cmake, ...ConfigVersion.cmake, ...Targets.cmake
#   <prefix>/bin/quiver, <prefix>/share/man/man1/quiver.1, man3/quiver.3
#   <prefix>/<QV_PYTHON_SITEDIR>/quiver.cpython-*.so
# DESTDIR and `--prefix` given at install time are honoured by every file, quiver.pc included.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

# ---------------------------------------------------------------- libraries and header
set_target_properties(quiver_shared PROPERTIES EXPORT_NAME quiver)
set_target_properties(quiver_static PROPERTIES EXPORT_NAME quiver_static)
add_library(quiver::quiver ALIAS quiver_shared)
add_library(quiver::quiver_static ALIAS quiver_static)
install(TARGETS quiver_shared quiver_static EXPORT quiverTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT dev
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev
        INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(FILES ${CMAKE_SOURCE_DIR}/include/quiver.h ${QV_GENERATED_INCLUDE}/quiver_version.h
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev)

# ---------------------------------------------------------------- CMake package config
set(QV_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/quiver)
install(EXPORT quiverTargets NAMESPACE quiver:: DESTINATION ${QV_CMAKEDIR} COMPONENT dev)
configure_package_config_file(${CMAKE_SOURCE_DIR}/cmake/quiverConfig.cmake.in
  ${CMAKE_BINARY_DIR}/quiverConfig.cmake INSTALL_DESTINATION ${QV_CMAKEDIR})
# Same major version = compatible (docs/ABI.md); while the major is 0, the minor must match too.
if(PROJECT_VERSION_MAJOR EQUAL 0)
  set(QV_COMPAT SameMinorVersion)
else()
  set(QV_COMPAT SameMajorVersion)
endif()
write_basic_package_version_file(${CMAKE_BINARY_DIR}/quiverConfigVersion.cmake
  VERSION ${PROJECT_VERSION} COMPATIBILITY ${QV_COMPAT})
install(FILES ${CMAKE_BINARY_DIR}/quiverConfig.cmake ${CMAKE_BINARY_DIR}/quiverConfigVersion.cmake
        DESTINATION ${QV_CMAKEDIR} COMPONENT dev)

# ---------------------------------------------------------------- pkg-config
# Two stages: the version and directories now, the prefix at install time (--prefix may differ
# from CMAKE_INSTALL_PREFIX at configure time).
set(QV_PC_PREFIX "@QV_PC_PREFIX@")
foreach(d LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${d}}")
    set(QV_PC_${d} "${CMAKE_INSTALL_${d}}")
  else()
    set(QV_PC_${d} "\${prefix}/${CMAKE_INSTALL_${d}}")
  endif()
endforeach()
configure_file(${CMAKE_SOURCE_DIR}/cmake/quiver.pc.in ${CMAKE_BINARY_DIR}/quiver.pc.in @ONLY)
install(CODE "set(QV_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  configure_file(\"${CMAKE_BINARY_DIR}/quiver.pc.in\" \"${CMAKE_BINARY_DIR}/quiver.pc\" @ONLY)"
  COMPONENT dev)
install(FILES ${CMAKE_BINARY_DIR}/quiver.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)

# ---------------------------------------------------------------- the quiver command, man pages
# The pages carry the version (man/*.in, @PROJECT_VERSION@); the built ones are build/man/.
foreach(page quiver.1 quiver.3)
  configure_file(${CMAKE_SOURCE_DIR}/man/${page}.in ${CMAKE_BINARY_DIR}/man/${page} @ONLY)
endforeach()
if(TARGET quiver_cli)
  install(TARGETS quiver_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT cli)
  install(FILES ${CMAKE_BINARY_DIR}/man/quiver.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT cli)
endif()
install(FILES ${CMAKE_BINARY_DIR}/man/quiver.3 DESTINATION ${CMAKE_INSTALL_MANDIR}/man3 COMPONENT dev)

# ---------------------------------------------------------------- Python module
# QV_PYTHON_SITEDIR: absolute, or relative to the install prefix. The default is the directory
# that the interpreter searches for that prefix: Debian's python3 reads /usr/lib/python3/
# dist-packages for /usr and <prefix>/lib/python3.X/dist-packages for /usr/local; other builds
# of Python read <prefix>/lib/python3.X/site-packages.
if(TARGET quiver_py)
  if(Python3_SITEARCH MATCHES "/dist-packages$")
    if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
      set(QV_PY_DEFAULT lib/python3/dist-packages)
    else()
      set(QV_PY_DEFAULT lib/python${Python3_VERSION_MAJOR}.${Python3_VERSION_MINOR}/dist-packages)
    endif()
  else()
    set(QV_PY_DEFAULT lib/python${Python3_VERSION_MAJOR}.${Python3_VERSION_MINOR}/site-packages)
  endif()
  set(QV_PYTHON_SITEDIR ${QV_PY_DEFAULT} CACHE STRING
      "where the Python module is installed (absolute, or relative to the prefix)")
  install(TARGETS quiver_py LIBRARY DESTINATION ${QV_PYTHON_SITEDIR} COMPONENT python)
endif()
