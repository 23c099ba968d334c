/*===- linrec-c/Runtime.h - the C API of the linrec runtime ------*- C -*-===*\
|*                                                                            *|
|* For FFI users: compile a function of a .mlir module (a layer: its arguments  *|
|* and results are tensors) or its derived backward to CPU kernels, and run it  *|
|* on host buffers. Every call reports failure through its return value and an  *|
|* error message; nothing aborts.                                              *|
\*===----------------------------------------------------------------------===*/

#ifndef LINREC_C_RUNTIME_H
#define LINREC_C_RUNTIME_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct linrec_compiler linrec_compiler;
typedef struct linrec_function linrec_function;

typedef enum {
  LINREC_F32 = 0,
  LINREC_F64 = 1,
  LINREC_I32 = 2,
} linrec_dtype;

/* A contiguous row-major host buffer. */
typedef struct {
  void *data;
  linrec_dtype dtype;
  int32_t rank;
  const int64_t *shape;
} linrec_buffer;

typedef struct {
  /* "cpu", "gpu-schedule" (the GPU schedule run on the CPU) or "cuda"; NULL: "cpu". */
  const char *target;
  /* The options of the target's pipeline as "name=value ..." (linrec-to-cpu's for "cpu":
   * "chunk-size=32 sequential=1 threads=2"; linrec-to-nvvm's otherwise; `linrec-opt --help`
   * lists them); NULL or "": the defaults. An unknown name fails linrec_compile. */
  const char *schedule;
} linrec_options;

/* A compiler owns its kernel cache; it is thread-safe. */
linrec_compiler *linrec_compiler_create(void);
void linrec_compiler_destroy(linrec_compiler *compiler);

/* Compiles `func_name` of the MLIR text `module_text`. On failure returns NULL and, if
 * `error` is not NULL, stores a message to free with linrec_free_error. */
linrec_function *linrec_compile(linrec_compiler *compiler, const char *module_text,
                                const char *func_name, const linrec_options *options,
                                char **error);

/* The backward of `func_name` for L = Σ ⟨cotangent, result⟩, derived from its ops: a function
 * taking func_name's arguments, then one cotangent per result (shaped like it), and returning
 * one gradient per float argument, in order. It recomputes what it needs from the arguments:
 * the forward keeps nothing for it. Fails (NULL, with a message naming the op) where the
 * backward is not derived yet. */
linrec_function *linrec_compile_backward(linrec_compiler *compiler, const char *module_text,
                                         const char *func_name, const linrec_options *options,
                                         char **error);

/* Runs the function: `args` are its arguments in order, `results` its results (written).
 * Returns 0 on success, nonzero with a message in `error` otherwise.
 *
 * A result may be the very buffer of an argument where the function updates it: the decode
 * step of a layer whose states live in a pool (`state_indices`, see linrec.recurrence) takes
 * the pool as an argument and gets it back as its final state; passing the same buffer for
 * both updates the sequences' slots in place and touches nothing else. */
int linrec_run(const linrec_function *function, const linrec_buffer *args, size_t num_args,
               const linrec_buffer *results, size_t num_results, char **error);

size_t linrec_function_num_args(const linrec_function *function);
size_t linrec_function_num_results(const linrec_function *function);
void linrec_function_destroy(linrec_function *function);
void linrec_free_error(char *error);

#ifdef __cplusplus
}
#endif

#endif /* LINREC_C_RUNTIME_H */
