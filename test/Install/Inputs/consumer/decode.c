/* A decode step on a state pool through the installed C API: two sequences on slots 2 and 0
 * of a pool of 3, updated in place; prints the slots' first entries. */
#include <linrec-c/Runtime.h>

#include <stdio.h>

static const char *kStep =
    "func.func @step(%q: tensor<2x1x1x4xf32>, %g: tensor<2x1x1xf32>,\n"
    "                %pool: tensor<3x1x4x4xf32>, %slots: tensor<2xi32>)\n"
    "    -> (tensor<2x1x1x4xf32>, tensor<3x1x4x4xf32>) {\n"
    "  %o, %s = linrec.simple_gla %q, %q, %q gate(%g) init(%pool) state_indices(%slots)\n"
    "      : (tensor<2x1x1x4xf32>, tensor<2x1x1x4xf32>, tensor<2x1x1x4xf32>,\n"
    "         tensor<2x1x1xf32>, tensor<3x1x4x4xf32>, tensor<2xi32>)\n"
    "      -> (tensor<2x1x1x4xf32>, tensor<3x1x4x4xf32>)\n"
    "  return %o, %s : tensor<2x1x1x4xf32>, tensor<3x1x4x4xf32>\n"
    "}\n";

int main(void) {
  linrec_compiler *compiler = linrec_compiler_create();
  char *error = NULL;
  linrec_options options = {"cpu", "sequential=1"};
  linrec_function *step = linrec_compile(compiler, kStep, "step", &options, &error);
  if (!step) {
    fprintf(stderr, "compile: %s\n", error);
    return 1;
  }
  float q[8] = {1, 0, 0, 0, 0, 2, 0, 0}, g[2] = {0, 0}, o[8], pool[48] = {0};
  pool[0] = 5; /* slot 0 starts with S[0][0] = 5 */
  int32_t slots[2] = {2, 0};
  int64_t tokens[] = {2, 1, 1, 4}, gates[] = {2, 1, 1}, poolShape[] = {3, 1, 4, 4}, n[] = {2};
  linrec_buffer args[] = {{q, LINREC_F32, 4, tokens},
                          {g, LINREC_F32, 3, gates},
                          {pool, LINREC_F32, 4, poolShape},
                          {slots, LINREC_I32, 1, n}};
  linrec_buffer results[] = {{o, LINREC_F32, 4, tokens}, {pool, LINREC_F32, 4, poolShape}};
  if (linrec_run(step, args, 4, results, 2, &error) != 0) {
    fprintf(stderr, "run: %s\n", error);
    return 1;
  }
  /* Slot 2: S = q0 q0ᵀ (S[0][0] = 1); slot 0: 5 + q1 q1ᵀ (S[1][1] = 4); slot 1 untouched. */
  printf("slot 0: S[0][0] = %g, S[1][1] = %g\n", pool[0], pool[5]);
  printf("slot 1: S[0][0] = %g\n", pool[16]);
  printf("slot 2: S[0][0] = %g\n", pool[32]);
  printf("o[0] = %g, o[5] = %g\n", o[0], o[5]);
  linrec_function_destroy(step);
  linrec_compiler_destroy(compiler);
  return 0;
}
