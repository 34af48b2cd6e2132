# musl-cli.cmake - included by CMakeLists.txt with -DAL_MUSL_CLI=ON: the
# airlock program built statically against musl by tools/musl-cli (its
# header says how and why) in BUILD/musl/airlock, with a symlink to
# BUILD/airlock-core beside it for the commands it hands over, installed
# as bin/airlock in place of the glibc program, which is still built (the
# sanitizer builds and the integration tests use it). AL_CLI_PROGRAM
# names the program that ships, for the benchmarks.
#
# There is no fallback to the glibc program: without musl-gcc or
# dpkg-buildflags the configure step stops, and a failed musl build
# fails the build.
find_program(AL_MUSL_GCC musl-gcc)
find_program(AL_DPKG_BUILDFLAGS dpkg-buildflags)
if(NOT AL_MUSL_GCC OR NOT AL_DPKG_BUILDFLAGS)
  message(FATAL_ERROR "AL_MUSL_CLI=ON needs musl-gcc and dpkg-buildflags: "
    "apt-get install musl-tools dpkg-dev (appliance/install-deps does), "
    "or configure with -DAL_MUSL_CLI=OFF for the glibc program")
endif()

set(AL_MUSL_DIR ${CMAKE_BINARY_DIR}/musl)
set(AL_CLI_PROGRAM ${AL_MUSL_DIR}/airlock)
# What tools/musl-cli compiles (src/cli's other files are not, but
# cli.h is, and a glob of the folder costs nothing).
file(GLOB_RECURSE musl_inputs CONFIGURE_DEPENDS
  ${CMAKE_SOURCE_DIR}/src/base/*.[ch] ${CMAKE_SOURCE_DIR}/src/sandbox/*.[ch]
  ${CMAKE_SOURCE_DIR}/src/cli/*.[ch])
set(musl_env)
if(AL_MUSL_CACHE)
  set(musl_env AL_MUSL_CACHE=${AL_MUSL_CACHE})
endif()
add_custom_command(OUTPUT ${AL_CLI_PROGRAM}
  COMMAND ${CMAKE_COMMAND} -E env ${musl_env}
          bash ${CMAKE_SOURCE_DIR}/tools/musl-cli -B ${AL_MUSL_DIR}
  COMMAND ${CMAKE_COMMAND} -E create_symlink ../airlock-core
          ${AL_MUSL_DIR}/airlock-core
  # musl-cli leaves an up-to-date program alone; make's view of it must
  # still move past the inputs that did not change it.
  COMMAND ${CMAKE_COMMAND} -E touch_nocreate ${AL_CLI_PROGRAM}
  DEPENDS ${musl_inputs} ${CMAKE_SOURCE_DIR}/tools/musl-cli
          ${CMAKE_SOURCE_DIR}/tools/musl-relro.c ${CMAKE_SOURCE_DIR}/CMakeLists.txt
  COMMENT "Building the airlock program against musl (tools/musl-cli)"
  VERBATIM)
add_custom_target(airlock_musl ALL DEPENDS ${AL_CLI_PROGRAM})
add_dependencies(airlock_musl airlock_core)

# cmake --install --strip strips targets only: the same for this one.
install(PROGRAMS ${AL_CLI_PROGRAM} DESTINATION bin)
install(CODE "if(CMAKE_INSTALL_DO_STRIP)
  execute_process(COMMAND ${CMAKE_STRIP}
    \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/bin/airlock\"
    RESULT_VARIABLE rc)
  if(rc)
    message(FATAL_ERROR \"strip of bin/airlock (musl) failed\")
  endif()
endif()")
