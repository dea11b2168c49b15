//===- AttnAttrs.td - attributes of the attn dialect -------*- tablegen -*-===//
//
// `#attn.skip<...>` asks for a skip-enabled kernel and carries the
// Skip-Softmax threshold lambda in one of its two forms.
//
//===----------------------------------------------------------------------===//

#ifndef SKIPATTN_DIALECT_ATTN_IR_ATTNATTRS_TD
#define SKIPATTN_DIALECT_ATTN_IR_ATTNATTRS_TD

include "skipattn/Dialect/Attn/IR/AttnDialect.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def Attn_SkipKind : I32EnumAttr<"SkipKind", "how the skip threshold is given", [
    I32EnumAttrCase<"Threshold", 0, "threshold">,
    I32EnumAttrCase<"ScaleFactor", 1, "scale_factor">
  ]> {
  let cppNamespace = "::skipattn::attn";
  let genSpecializedAttr = 0;
}

def Attn_SkipAttr : AttrDef<Attn_Dialect, "Skip"> {
  let mnemonic = "skip";
  let summary = "Skip-Softmax block-skip request and its threshold";
  let description = [{
    Asks for a kernel that skips the softmax update and P·V product of every
    key/value block whose largest score is far below the running maximum
    (DESIGN.md section 4).

    - `#attn.skip<threshold = X>` fixes lambda = X, with 0 < X < 1.
    - `#attn.skip<scale_factor = F>` is TensorRT-LLM's form: lambda is
      F / L_kv for a key/value length L_kv, with F > 0.

    The value is the default for the run-time threshold argument of the
    generated kernels; one compiled kernel serves any threshold.
  }];
  let parameters = (ins "::skipattn::attn::SkipKind":$kind,
                        APFloatParameter<"">:$value);
  let hasCustomAssemblyFormat = 1;
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The value as a double.
    double getValueAsDouble() const { return getValue().convertToDouble(); }
    /// Lambda for a key/value length: the threshold, or scale_factor / kvLen.
    double getLambda(int64_t kvLen) const;
  }];
}

#endif // SKIPATTN_DIALECT_ATTN_IR_ATTNATTRS_TD
