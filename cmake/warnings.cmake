# Project-wide compile flags: warnings (errors in CI), optional sanitizers, and the portable
# x86-64 baseline. SIMD code lives in *_avx2.cpp files compiled with their own flags (src/kernels).
add_compile_options(-Wall -Wextra -Wshadow -Wnon-virtual-dtor -Wcast-align -Wunused -Woverloaded-virtual
                    -Wformat=2 -Wimplicit-fallthrough)
if(LINGUA_WERROR)
  add_compile_options(-Werror)
endif()
if(LINGUA_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=address,undefined)
endif()
if(CMAKE_BUILD_TYPE STREQUAL "Release")
  add_compile_options(-O3)
endif()

# lingua_layer(NAME DEPS...): a static library from every .cpp in the current folder.
function(lingua_layer name)
  file(GLOB srcs CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cpp)
  add_library(${name} STATIC ${srcs} ${PROJECT_SOURCE_DIR}/src/core/dtype.h)
  set_target_properties(${name} PROPERTIES LINKER_LANGUAGE CXX)
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARGN})
endfunction()
