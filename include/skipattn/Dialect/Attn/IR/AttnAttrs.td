//===- AttnAttrs.td - attributes of the attn dialect -------*- tablegen -*-===//
//
// `#attn.skip<...>` asks for a skip-enabled kernel and carries the
// Skip-Softmax threshold lambda in one of its two forms. `#attn.kernel<...>`
// describes how to launch a kernel that convert-attn-to-gpu generated.
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

def Attn_KernelAttr : AttrDef<Attn_Dialect, "Kernel"> {
  let mnemonic = "kernel";
  let summary = "how to launch a generated attention kernel";
  let description = [{
    convert-attn-to-gpu attaches it to each gpu.func it generates, as
    `attn.kernel`, so that a runtime (skipattn-compile's bundle manifest)
    launches the kernel without re-deriving its configuration:

    - `role`: "prefill", "decode" or "combine";
    - `params`: the names of the kernel's parameters, in order (q, k, v or
      their tensor maps, out, batch, lengths, and for a skip kernel
      "threshold" or "scale_factor" and "stats");
    - `threads` per CTA and `shared_bytes` of dynamic shared memory;
    - `block_m` (query rows per CTA), `block_n` (keys per kv-block) and
      `max_q_len` (the most queries per head the decode kernel takes), 0
      where they do not apply;
    - `persistent`: the kernel takes any number of CTAs in x and walks the
      tiles itself (the Hopper prefill kernel), so a runtime launches one
      per SM.

    ```mlir
    gpu.func @skipattn_prefill_... attributes {attn.kernel = #attn.kernel<
        role = "prefill", params = ["q", "k", "v", "out", "batch", "q_len",
        "kv_len", "threshold", "stats"], threads = 128, shared_bytes = 57344,
        block_m = 64>}
    ```
  }];
  let parameters = (ins
    StringRefParameter<"prefill, decode or combine">:$role,
    "::mlir::ArrayAttr":$params,
    "int64_t":$threads,
    "int64_t":$shared_bytes,
    DefaultValuedParameter<"int64_t", "0">:$block_m,
    DefaultValuedParameter<"int64_t", "0">:$block_n,
    DefaultValuedParameter<"int64_t", "0">:$max_q_len,
    DefaultValuedParameter<"bool", "false">:$persistent);
  let assemblyFormat = "`<` struct(params) `>`";
  let genVerifyDecl = 1;
  let extraClassDeclaration = [{
    /// The name it is attached under.
    static ::llvm::StringRef getAttrName() { return "attn.kernel"; }
  }];
}

#endif // SKIPATTN_DIALECT_ATTN_IR_ATTNATTRS_TD
