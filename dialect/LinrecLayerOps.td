//===- LinrecLayerOps.td - tensor ops around recurrences ---------*- tablegen -*-===//
//
// Layer-level tensor ops that models put around their recurrences. Each has a float64
// reference, an expansion into linalg (linrec-expand-layer-ops) for code generators that
// compile it apart, and a fusion into the recurrence's kernel where one exists.
//
//===----------------------------------------------------------------------===//

#ifndef LINREC_LAYER_OPS_TD
#define LINREC_LAYER_OPS_TD

include "LinrecDialect.td"
include "mlir/Interfaces/SideEffectInterfaces.td"

def Linrec_HeadsRmsNormOp : Linrec_Op<"heads_rms_norm",
    [Pure, AllTypesMatch<["input", "result"]>]> {
  let summary = "SimpleRMSNorm of each token over all heads: x / (‖x‖₂/√(H·D) + eps)";
  let description = [{
    TransNormer's output norm: for each (b, t), x_t is the concatenation of the token's H head
    rows (H·D values) and o_t = x_t / (‖x_t‖₂ / √(H·D) + eps), with no gain; eps is added to
    the RMS, not inside the square root. `[B, T, H, D]` in and out.

    `linrec-fuse-heads-norms` moves it into the chunked CPU kernel of the recurrence whose
    output it normalizes (work items then hold every head of a batch row);
    `linrec-expand-layer-ops` writes it as two `linalg.generic`s elsewhere.

    ```mlir
    %o = linrec.heads_rms_norm %x {eps = 1.0e-08 : f64} : tensor<2x256x4x64xf32>
    ```
  }];
  let arguments = (ins AnyRankedTensor:$input, F64Attr:$eps);
  let results = (outs AnyRankedTensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input)";
  let hasVerifier = 1;
}

#endif // LINREC_LAYER_OPS_TD
