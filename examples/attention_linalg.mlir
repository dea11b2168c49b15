// Causal multi-head attention as torch-mlir lowers
// F.softmax(q @ k.transpose(-2, -1) / sqrt(d) + causal_mask, -1) @ v to
// linalg on tensors: B = 1, H = 4, S = 200, D = 64.
// `skipattn-opt --attn-raise` turns the whole subgraph into one
// attn.attention {causal}.
#id4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, d3)>
#row4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2, 0)>
#red4 = affine_map<(d0, d1, d2, d3) -> (d0, d1, d2)>
#mask4 = affine_map<(d0, d1, d2, d3) -> (d2, d3)>
func.func @causal_attention(%q: tensor<1x4x200x64xf32>, %k: tensor<1x4x200x64xf32>,
                            %v: tensor<1x4x200x64xf32>) -> tensor<1x4x200x64xf32> {
  %zero = arith.constant 0.0 : f32
  %ninf = arith.constant 0xFF800000 : f32
  %sqrtd = arith.constant 8.0 : f32
  // k.transpose(-2, -1)
  %kt0 = tensor.empty() : tensor<1x4x64x200xf32>
  %kt = linalg.transpose ins(%k : tensor<1x4x200x64xf32>) outs(%kt0 : tensor<1x4x64x200xf32>) permutation = [0, 1, 3, 2]
  // q @ k^T as a batch_matmul over B*H
  %q3 = tensor.collapse_shape %q [[0, 1], [2], [3]] : tensor<1x4x200x64xf32> into tensor<4x200x64xf32>
  %kt3 = tensor.collapse_shape %kt [[0, 1], [2], [3]] : tensor<1x4x64x200xf32> into tensor<4x64x200xf32>
  %se = tensor.empty() : tensor<4x200x200xf32>
  %sf = linalg.fill ins(%zero : f32) outs(%se : tensor<4x200x200xf32>) -> tensor<4x200x200xf32>
  %s3 = linalg.batch_matmul ins(%q3, %kt3 : tensor<4x200x64xf32>, tensor<4x64x200xf32>) outs(%sf : tensor<4x200x200xf32>) -> tensor<4x200x200xf32>
  %s = tensor.expand_shape %s3 [[0, 1], [2], [3]] output_shape [1, 4, 200, 200] : tensor<4x200x200xf32> into tensor<1x4x200x200xf32>
  // / sqrt(d)
  %e4 = tensor.empty() : tensor<1x4x200x200xf32>
  %ss = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%s : tensor<1x4x200x200xf32>) outs(%e4 : tensor<1x4x200x200xf32>) {
  ^bb0(%in: f32, %out: f32):
    %d = arith.divf %in, %sqrtd : f32
    linalg.yield %d : f32
  } -> tensor<1x4x200x200xf32>
  // + causal_mask (0 on and below the diagonal, -inf above), built from indices
  %me = tensor.empty() : tensor<200x200xf32>
  %mask = linalg.generic {indexing_maps = [affine_map<(i, j) -> (i, j)>], iterator_types = ["parallel", "parallel"]}
      outs(%me : tensor<200x200xf32>) {
  ^bb0(%out: f32):
    %i = linalg.index 0 : index
    %j = linalg.index 1 : index
    %above = arith.cmpi ugt, %j, %i : index
    %m = arith.select %above, %ninf, %zero : f32
    linalg.yield %m : f32
  } -> tensor<200x200xf32>
  %sm = linalg.generic {indexing_maps = [#id4, #mask4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%ss, %mask : tensor<1x4x200x200xf32>, tensor<200x200xf32>) outs(%e4 : tensor<1x4x200x200xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %d = arith.addf %a, %b : f32
    linalg.yield %d : f32
  } -> tensor<1x4x200x200xf32>
  // softmax(-1), decomposed
  %me3 = tensor.empty() : tensor<1x4x200xf32>
  %mf = linalg.fill ins(%ninf : f32) outs(%me3 : tensor<1x4x200xf32>) -> tensor<1x4x200xf32>
  %max = linalg.generic {indexing_maps = [#id4, #red4], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%sm : tensor<1x4x200x200xf32>) outs(%mf : tensor<1x4x200xf32>) {
  ^bb0(%in: f32, %out: f32):
    %m = arith.maximumf %in, %out : f32
    linalg.yield %m : f32
  } -> tensor<1x4x200xf32>
  %maxk = tensor.expand_shape %max [[0], [1], [2, 3]] output_shape [1, 4, 200, 1] : tensor<1x4x200xf32> into tensor<1x4x200x1xf32>
  %sub = linalg.generic {indexing_maps = [#id4, #row4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%sm, %maxk : tensor<1x4x200x200xf32>, tensor<1x4x200x1xf32>) outs(%e4 : tensor<1x4x200x200xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %d = arith.subf %a, %b : f32
    linalg.yield %d : f32
  } -> tensor<1x4x200x200xf32>
  %exp = linalg.generic {indexing_maps = [#id4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%sub : tensor<1x4x200x200xf32>) outs(%e4 : tensor<1x4x200x200xf32>) {
  ^bb0(%a: f32, %out: f32):
    %d = math.exp %a : f32
    linalg.yield %d : f32
  } -> tensor<1x4x200x200xf32>
  %zf = linalg.fill ins(%zero : f32) outs(%me3 : tensor<1x4x200xf32>) -> tensor<1x4x200xf32>
  %sum = linalg.generic {indexing_maps = [#id4, #red4], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
      ins(%exp : tensor<1x4x200x200xf32>) outs(%zf : tensor<1x4x200xf32>) {
  ^bb0(%in: f32, %out: f32):
    %a = arith.addf %in, %out : f32
    linalg.yield %a : f32
  } -> tensor<1x4x200xf32>
  %sumk = tensor.expand_shape %sum [[0], [1], [2, 3]] output_shape [1, 4, 200, 1] : tensor<1x4x200xf32> into tensor<1x4x200x1xf32>
  %p = linalg.generic {indexing_maps = [#id4, #row4, #id4], iterator_types = ["parallel", "parallel", "parallel", "parallel"]}
      ins(%exp, %sumk : tensor<1x4x200x200xf32>, tensor<1x4x200x1xf32>) outs(%e4 : tensor<1x4x200x200xf32>) {
  ^bb0(%a: f32, %b: f32, %out: f32):
    %d = arith.divf %a, %b : f32
    linalg.yield %d : f32
  } -> tensor<1x4x200x200xf32>
  // @ v
  %p3 = tensor.collapse_shape %p [[0, 1], [2], [3]] : tensor<1x4x200x200xf32> into tensor<4x200x200xf32>
  %v3 = tensor.collapse_shape %v [[0, 1], [2], [3]] : tensor<1x4x200x64xf32> into tensor<4x200x64xf32>
  %oe = tensor.empty() : tensor<4x200x64xf32>
  %of = linalg.fill ins(%zero : f32) outs(%oe : tensor<4x200x64xf32>) -> tensor<4x200x64xf32>
  %o3 = linalg.batch_matmul ins(%p3, %v3 : tensor<4x200x200xf32>, tensor<4x200x64xf32>) outs(%of : tensor<4x200x64xf32>) -> tensor<4x200x64xf32>
  %o = tensor.expand_shape %o3 [[0, 1], [2], [3]] output_shape [1, 4, 200, 64] : tensor<4x200x64xf32> into tensor<1x4x200x64xf32>
  return %o : tensor<1x4x200x64xf32>
}
