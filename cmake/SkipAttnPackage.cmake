# How skipattn's libraries and tools are declared, installed and exported.
#
# Every library goes through skipattn_add_library and every tool through
# skipattn_add_tool, so that each one is built the same way in a standalone
# build and under add_subdirectory, has the name an outside project uses
# (skipattn::<Name>, an alias in-tree and an imported target after
# find_package), and lands in the export set that skipattn_install_package
# writes as lib/cmake/skipattn/skipattnTargets.cmake.

include(CMakePackageConfigHelpers)
include(GNUInstallDirs)

set(SKIPATTN_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/skipattn"
    CACHE STRING "Where skipattnConfig.cmake is installed, under the prefix")

# skipattn::headers: the include directories of skipattn's C++ API (the
# sources' and the TableGen outputs') and of the MLIR and LLVM it was built
# against. Every library links it publicly.
function(skipattn_add_header_target)
  add_library(SkipAttnHeaders INTERFACE)
  add_library(skipattn::headers ALIAS SkipAttnHeaders)
  set_target_properties(SkipAttnHeaders PROPERTIES EXPORT_NAME headers)
  target_include_directories(SkipAttnHeaders INTERFACE
    $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
    $<BUILD_INTERFACE:${PROJECT_BINARY_DIR}/include>
    $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
  target_include_directories(SkipAttnHeaders SYSTEM INTERFACE
    ${LLVM_INCLUDE_DIRS} ${MLIR_INCLUDE_DIRS})
  target_compile_features(SkipAttnHeaders INTERFACE cxx_std_17)
  install(TARGETS SkipAttnHeaders EXPORT skipattnTargets)
  install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/skipattn
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
          FILES_MATCHING PATTERN "*.h" PATTERN "*.td")
  install(DIRECTORY ${PROJECT_BINARY_DIR}/include/skipattn
          DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
          FILES_MATCHING PATTERN "*.inc")
endfunction()

# skipattn_add_library(<target> <sources>...
#                      [DEPENDS <tablegen targets>...] [LINK_LIBS <libs>...])
# A library of the compiler: <target> is SkipAttn<Name>, exported as
# skipattn::<Name>. It links the MLIR dylib and skipattn::headers publicly.
function(skipattn_add_library target)
  cmake_parse_arguments(ARG "" "" "DEPENDS;LINK_LIBS" ${ARGN})
  add_library(${target} ${ARG_UNPARSED_ARGUMENTS})
  string(REGEX REPLACE "^SkipAttn" "" name ${target})
  add_library(skipattn::${name} ALIAS ${target})
  set_target_properties(${target} PROPERTIES EXPORT_NAME ${name})
  if(ARG_DEPENDS)
    add_dependencies(${target} ${ARG_DEPENDS})
  endif()
  target_link_libraries(${target} PUBLIC SkipAttnHeaders ${ARG_LINK_LIBS}
                        ${SKIPATTN_MLIR_LIBS})
  install(TARGETS ${target} EXPORT skipattnTargets
          ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
          LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
          RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endfunction()

# skipattn_add_tool(<name> <sources>... [LINK_LIBS <libs>...])
# An executable, installed into bin/ and exported as skipattn::<name>.
function(skipattn_add_tool name)
  cmake_parse_arguments(ARG "" "" "LINK_LIBS" ${ARGN})
  add_executable(${name} ${ARG_UNPARSED_ARGUMENTS})
  add_executable(skipattn::${name} ALIAS ${name})
  target_link_libraries(${name} PRIVATE ${ARG_LINK_LIBS})
  install(TARGETS ${name} EXPORT skipattnTargets
          RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
endfunction()

# skipattn_install_package(HAS_COMPILER ON|OFF)
# Installs the export set and skipattnConfig.cmake. HAS_COMPILER OFF is the
# runtime-only build, whose package holds libskipattn_runtime and
# skipattn-run and needs no MLIR.
function(skipattn_install_package)
  cmake_parse_arguments(ARG "" "HAS_COMPILER" "" ${ARGN})
  set(SKIPATTN_HAS_COMPILER ${ARG_HAS_COMPILER})
  # MLIR's version file accepts any 22.1.x for "22.1".
  set(SKIPATTN_MLIR_VERSION "${LLVM_VERSION_MAJOR}.${LLVM_VERSION_MINOR}")
  install(EXPORT skipattnTargets NAMESPACE skipattn::
          DESTINATION ${SKIPATTN_INSTALL_CMAKEDIR})
  configure_package_config_file(
    ${PROJECT_SOURCE_DIR}/cmake/skipattnConfig.cmake.in
    ${PROJECT_BINARY_DIR}/cmake/skipattnConfig.cmake
    INSTALL_DESTINATION ${SKIPATTN_INSTALL_CMAKEDIR}
    PATH_VARS CMAKE_INSTALL_INCLUDEDIR CMAKE_INSTALL_BINDIR
              CMAKE_INSTALL_LIBDIR)
  write_basic_package_version_file(
    ${PROJECT_BINARY_DIR}/cmake/skipattnConfigVersion.cmake
    COMPATIBILITY SameMinorVersion)
  install(FILES ${PROJECT_BINARY_DIR}/cmake/skipattnConfig.cmake
                ${PROJECT_BINARY_DIR}/cmake/skipattnConfigVersion.cmake
          DESTINATION ${SKIPATTN_INSTALL_CMAKEDIR})
endfunction()
