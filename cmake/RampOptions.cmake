# SPDX-License-Identifier: MIT
# Every build knob, in one place.
option(RAMP_SANITIZE "Build with AddressSanitizer and UndefinedBehaviorSanitizer" OFF)
option(RAMP_FUZZ "Build libFuzzer targets (needs clang)" OFF)
option(RAMP_WERROR "Treat compiler warnings as errors" ON)
option(RAMP_TESTS "Build the test suite" ON)
option(RAMP_BENCH "Build the benchmarks" ON)

set(RAMP_WARNINGS -Wall -Wextra -Wshadow -Wstrict-prototypes
    -Wmissing-prototypes -Wformat=2 -Wvla)
if(RAMP_WERROR)
    list(APPEND RAMP_WARNINGS -Werror)
endif()

if(RAMP_FUZZ)
    if(NOT CMAKE_C_COMPILER_ID MATCHES "Clang")
        message(FATAL_ERROR "RAMP_FUZZ=ON needs clang: CC=clang cmake ...")
    endif()
    # Instrument everything for coverage; only the fuzz targets link the
    # libFuzzer main.
    add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -g
        -fno-omit-frame-pointer)
    add_link_options(-fsanitize=address,undefined)
elseif(RAMP_SANITIZE)
    add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer
        -fno-sanitize-recover=all -g)
    add_link_options(-fsanitize=address,undefined)
endif()
