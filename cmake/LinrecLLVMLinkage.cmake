# How linrec links MLIR and LLVM. Sets LINREC_MLIR_LIBS, the libraries every linrec target
# links in place of MLIR's own targets (LinrecStaticMLIR when static).
#
# By default: Debian's shared libMLIR, libMLIRExecutionEngineShared and libLLVM (fast links;
# the tools and tests share one copy).
#
# LINREC_LINK_LLVM_STATICALLY=ON: the static archives instead, so that what is built runs
# where LLVM and MLIR are not installed (the wheel: `pip wheel .` sets it). MLIR's exported
# static targets cannot be used for this: Debian builds LLVM with LLVM_LINK_LLVM_DYLIB, so
# their link interfaces name the shared libLLVM. The archives are linked by path instead, all
# of them: lld pulls only the members something references, in any order.
option(LINREC_LINK_LLVM_STATICALLY
       "Link MLIR and LLVM from their static archives (a relocatable Python extension)" OFF)

if(NOT LINREC_LINK_LLVM_STATICALLY)
  set(LINREC_MLIR_LIBS MLIR MLIRExecutionEngineShared)
  return()
endif()

file(GLOB LINREC_MLIR_ARCHIVES "${LLVM_LIBRARY_DIR}/libMLIR*.a")
file(GLOB LINREC_LLVM_ARCHIVES "${LLVM_LIBRARY_DIR}/libLLVM*.a")
# The test dialects and passes, and the MLIR C API (which also defines registration
# functions), are never what linrec means.
list(FILTER LINREC_MLIR_ARCHIVES EXCLUDE REGEX "/libMLIR(Test|CAPI)[^/]*\\.a$")
if(NOT LINREC_MLIR_ARCHIVES OR NOT LINREC_LLVM_ARCHIVES)
  message(FATAL_ERROR "LINREC_LINK_LLVM_STATICALLY needs MLIR's and LLVM's static archives "
                      "in ${LLVM_LIBRARY_DIR} (Debian: libmlir-22-dev, llvm-22-dev)")
endif()
find_package(Threads REQUIRED)
find_package(ZLIB REQUIRED)
# (zstd without its -dev package: the runtime library itself.)
find_library(LINREC_ZSTD_LIBRARY NAMES zstd libzstd.so.1 REQUIRED)
# One target for all of them.
add_library(LinrecStaticMLIR INTERFACE)
target_link_libraries(LinrecStaticMLIR INTERFACE ${LINREC_MLIR_ARCHIVES} ${LINREC_LLVM_ARCHIVES}
                      ZLIB::ZLIB ${LINREC_ZSTD_LIBRARY} Threads::Threads ${CMAKE_DL_LIBS} rt m)
set(LINREC_MLIR_LIBS LinrecStaticMLIR)
message(STATUS "linrec links MLIR and LLVM statically (${LLVM_LIBRARY_DIR}/lib{MLIR,LLVM}*.a)")
