//===- LinrecTypes.td - linrec types ------------------------*- tablegen -*-===//

#ifndef LINREC_TYPES_TD
#define LINREC_TYPES_TD

include "LinrecDialect.td"
include "mlir/IR/AttrTypeBase.td"

class Linrec_Type<string name, string typeMnemonic, list<Trait> traits = []>
    : TypeDef<Linrec_Dialect, name, traits> {
  let mnemonic = typeMnemonic;
}

def Linrec_StateType : Linrec_Type<"State", "state"> {
  let summary = "the recurrent state of one (batch row, head)";
  let description = [{
    A rank-2 state `!linrec.state<dk x dv x f32>` is the key-major matrix S of a recurrence.
    A rank-1 state `!linrec.state<dk x f32>` is a normalizer z (o = Sᵀq / (qᵀz + eps)).
    States only live inside `linrec.recurrence` bodies; the op's operands and results carry
    them as `[B, H, dk, dv]` (or `[B, H, dk]`) tensors.
  }];
  let parameters = (ins ArrayRefParameter<"int64_t">:$shape, "::mlir::Type":$elementType);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// True for the dk x dv matrix state, false for a dk normalizer.
    bool isMatrix() const { return getShape().size() == 2; }
    int64_t getKeyDim() const { return getShape()[0]; }
    /// The value dim of a matrix state; 1 for a normalizer.
    int64_t getValueDim() const { return isMatrix() ? getShape()[1] : 1; }
  }];
}

#endif // LINREC_TYPES_TD
