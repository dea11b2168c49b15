// RUN: skipattn-opt %s --split-input-file --convert-attn-to-loops | FileCheck %s

// load_tile: rows past the end read as 0.
// CHECK-LABEL: func.func @load_tile
//  CHECK-SAME:   (%[[SRC:[a-z0-9]+]]: tensor<1x2x?x64xbf16>, %[[B:[a-z0-9]+]]: index, %[[H:[a-z0-9]+]]: index, %[[R:[a-z0-9]+]]: index)
//   CHECK-DAG:   %[[ZERO:.*]] = arith.constant 0.000000e+00 : bf16
//   CHECK-DAG:   %[[S:.*]] = tensor.dim %[[SRC]], %{{.*}} : tensor<1x2x?x64xbf16>
//       CHECK:   tensor.generate  {
//       CHECK:   ^bb0(%[[I:.*]]: index, %[[D:.*]]: index):
//       CHECK:     %[[ROW:.*]] = arith.addi %[[R]], %[[I]] : index
//       CHECK:     %[[IN:.*]] = arith.cmpi ult, %[[ROW]], %[[S]] : index
//       CHECK:     %[[X:.*]] = scf.if %[[IN]] -> (bf16) {
//       CHECK:       tensor.extract %[[SRC]][%[[B]], %[[H]], %[[ROW]], %[[D]]]
//       CHECK:     } else {
//       CHECK:       scf.yield %[[ZERO]] : bf16
//       CHECK:     tensor.yield %[[X]] : bf16
//       CHECK:   } : tensor<16x64xbf16>
func.func @load_tile(%src: tensor<1x2x?x64xbf16>, %b: index, %h: index, %r: index) -> tensor<16x64xbf16> {
  %t = attn.load_tile %src[%b, %h, %r] : tensor<1x2x?x64xbf16> -> tensor<16x64xbf16>
  return %t : tensor<16x64xbf16>
}

// -----

// load_mask_tile: extent-1 dims broadcast, outside reads false.
// CHECK-LABEL: func.func @load_mask_tile
//       CHECK:   %[[FALSE:.*]] = arith.constant false
//       CHECK:   tensor.generate
//       CHECK:     arith.select %{{.*}}, %{{.*}}, %{{.*}} : index
//       CHECK:     scf.if %{{.*}} -> (i1)
//       CHECK:       tensor.extract
//       CHECK:       scf.yield %[[FALSE]] : i1
func.func @load_mask_tile(%m: tensor<?x1x1x?xi1>, %b: index, %h: index, %r: index, %c: index) -> tensor<8x16xi1> {
  %t = attn.load_mask_tile %m[%b, %h, %r, %c] : tensor<?x1x1x?xi1> -> tensor<8x16xi1>
  return %t : tensor<8x16xi1>
}

// -----

// tile_scores: Q·K^T accumulated in f32, then scale, bounds, causal and
// the i1 mask, -inf where masked.
// CHECK-LABEL: func.func @tile_scores
//  CHECK-SAME:   (%[[Q:[a-z0-9]+]]: tensor<16x32xbf16>, %[[K:[a-z0-9]+]]: tensor<8x32xbf16>, %[[M:[a-z0-9]+]]: tensor<16x8xi1>, %[[R:[a-z0-9]+]]: index, %[[C:[a-z0-9]+]]: index, %[[SQ:[a-z0-9]+]]: index, %[[SKV:[a-z0-9]+]]: index)
//       CHECK:   %[[QK:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[Q]], %[[K]] : tensor<16x32xbf16>, tensor<8x32xbf16>) outs(%{{.*}} : tensor<16x8xf32>)
//       CHECK:     arith.extf
//       CHECK:     arith.extf
//       CHECK:     arith.mulf
//       CHECK:     arith.addf
//       CHECK:   linalg.generic {{.*}} ins(%[[QK]], %[[M]] : tensor<16x8xf32>, tensor<16x8xi1>)
//       CHECK:     %[[GI:.*]] = arith.addi %[[R]], %{{.*}} : index
//       CHECK:     %[[GJ:.*]] = arith.addi %[[C]], %{{.*}} : index
//       CHECK:     arith.cmpi ult, %[[GI]], %[[SQ]]
//       CHECK:     arith.cmpi ult, %[[GJ]], %[[SKV]]
//       CHECK:     %[[LHS:.*]] = arith.addi %[[GJ]], %[[SQ]] : index
//       CHECK:     %[[RHS:.*]] = arith.addi %[[GI]], %[[SKV]] : index
//       CHECK:     arith.cmpi ule, %[[LHS]], %[[RHS]] : index
//       CHECK:     arith.mulf %{{.*}}, %{{.*}} : f32
//       CHECK:     arith.andi
//       CHECK:     arith.select %{{.*}}, %{{.*}}, %{{.*}} : f32
func.func @tile_scores(%q: tensor<16x32xbf16>, %k: tensor<8x32xbf16>, %m: tensor<16x8xi1>, %r: index, %c: index, %sq: index, %skv: index) -> tensor<16x8xf32> {
  %s = attn.tile_scores %q, %k mask %m at [%r, %c] bounds [%sq, %skv] {causal, scale = 0.125 : f32} : tensor<16x32xbf16>, tensor<8x32xbf16>, tensor<16x8xi1> -> tensor<16x8xf32>
  return %s : tensor<16x8xf32>
}

// -----

// skip_vote: off unless 0 < lambda < 1; a row votes yes when its tile is all
// -inf or tile_max - max < ln(lambda); a group needs every row.
// CHECK-LABEL: func.func @skip_vote
//  CHECK-SAME:   (%[[MT:[a-z0-9]+]]: tensor<64xf32>, %[[M:[a-z0-9]+]]: tensor<64xf32>, %[[LAMBDA:[a-z0-9]+]]: f32)
//   CHECK-DAG:   %[[GT0:.*]] = arith.cmpf ogt, %[[LAMBDA]], %{{.*}} : f32
//   CHECK-DAG:   %[[LT1:.*]] = arith.cmpf olt, %[[LAMBDA]], %{{.*}} : f32
//       CHECK:   %[[ON:.*]] = arith.andi %[[GT0]], %[[LT1]] : i1
//       CHECK:   %[[LOG:.*]] = math.log %[[LAMBDA]] : f32
//       CHECK:   %[[ROWS:.*]] = linalg.generic {{.*}} ins(%[[MT]], %[[M]] : tensor<64xf32>, tensor<64xf32>)
//       CHECK:   ^bb0(%[[T:.*]]: f32, %[[R:.*]]: f32, %{{.*}}: i1):
//       CHECK:     %[[EMPTY:.*]] = arith.cmpf oeq, %[[T]], %{{.*}} : f32
//       CHECK:     %[[GAP:.*]] = arith.subf %[[T]], %[[R]] : f32
//       CHECK:     %[[FAR:.*]] = arith.cmpf olt, %[[GAP]], %[[LOG]] : f32
//       CHECK:     %[[YES:.*]] = arith.ori %[[EMPTY]], %[[FAR]] : i1
//       CHECK:     arith.andi %[[ON]], %[[YES]] : i1
//       CHECK:   %[[G:.*]] = tensor.expand_shape %[[ROWS]] {{\[}}[0, 1]] output_shape [4, 16] : tensor<64xi1> into tensor<4x16xi1>
//       CHECK:   linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%[[G]] : tensor<4x16xi1>) outs(%{{.*}} : tensor<4xi1>)
//       CHECK:     arith.andi
func.func @skip_vote(%mt: tensor<64xf32>, %m: tensor<64xf32>, %lambda: f32) -> tensor<4xi1> {
  %v = attn.skip_vote %mt, %m, %lambda {group_rows = 16 : i64} : tensor<64xf32> -> tensor<4xi1>
  return %v : tensor<4xi1>
}

// -----

// tile_update: new max, exp of the shifted scores, rescaled sum and
// accumulator, P rounded to V's type before P·V.
// CHECK-LABEL: func.func @tile_update
//       CHECK:   %[[NM:.*]] = linalg.generic
//       CHECK:     arith.maximumf
//       CHECK:   %[[SHIFT:.*]] = linalg.generic {{.*}} ins(%[[NM]]
//       CHECK:     arith.cmpf oeq
//       CHECK:     arith.select
//       CHECK:   %[[ALPHA:.*]] = linalg.generic
//       CHECK:     arith.subf
//       CHECK:     math.exp
//       CHECK:   %[[P:.*]] = linalg.generic
//       CHECK:     math.exp
//       CHECK:   linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%[[P]]
//       CHECK:   linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[P]], %{{.*}} : tensor<16x8xf32>, tensor<8x32xbf16>)
//       CHECK:     arith.truncf %{{.*}} : f32 to bf16
//       CHECK:     arith.extf
func.func @tile_update(%s: tensor<16x8xf32>, %mt: tensor<16xf32>, %v: tensor<8x32xbf16>, %m: tensor<16xf32>, %l: tensor<16xf32>, %acc: tensor<16x32xf32>) -> (tensor<16xf32>, tensor<16xf32>, tensor<16x32xf32>) {
  %a, %b, %c = attn.tile_update %s, %mt, %v into (%m, %l, %acc) : tensor<16x8xf32>, tensor<16xf32>, tensor<8x32xbf16>, tensor<16x32xf32>
  return %a, %b, %c : tensor<16xf32>, tensor<16xf32>, tensor<16x32xf32>
}

// -----

// tile_finalize: acc / l, zero for rows that saw no key.
// CHECK-LABEL: func.func @tile_finalize
//       CHECK:   linalg.generic
//       CHECK:     %[[NONE:.*]] = arith.cmpf oeq
//       CHECK:     %[[DIV:.*]] = arith.divf
//       CHECK:     %[[V:.*]] = arith.select %[[NONE]], %{{.*}}, %[[DIV]] : f32
//       CHECK:     arith.truncf %[[V]] : f32 to f16
func.func @tile_finalize(%acc: tensor<16x32xf32>, %l: tensor<16xf32>) -> tensor<16x32xf16> {
  %o = attn.tile_finalize %acc, %l : tensor<16x32xf32>, tensor<16xf32> -> tensor<16x32xf16>
  return %o : tensor<16x32xf16>
}

// -----

// tile_merge: the log-sum-exp merge of two partial states; each side is
// weighted by exp(m - c) with c the merged max, or 0 when that is -inf.
// CHECK-LABEL: func.func @tile_merge
//  CHECK-SAME:   (%[[M1:[a-z0-9]+]]: tensor<8xf32>, %[[L1:[a-z0-9]+]]: tensor<8xf32>, %[[A1:[a-z0-9]+]]: tensor<8x4xf32>, %[[M2:[a-z0-9]+]]: tensor<8xf32>, %[[L2:[a-z0-9]+]]: tensor<8xf32>, %[[A2:[a-z0-9]+]]: tensor<8x4xf32>)
//       CHECK:   %[[M:.*]] = linalg.generic {{.*}} ins(%[[M1]], %[[M2]] : tensor<8xf32>, tensor<8xf32>)
//       CHECK:     arith.maximumf
//       CHECK:   %[[W1:.*]] = linalg.generic {{.*}} ins(%[[M1]], %[[M]] : tensor<8xf32>, tensor<8xf32>)
//       CHECK:     arith.cmpf oeq
//       CHECK:     arith.select
//       CHECK:     arith.subf
//       CHECK:     math.exp
//       CHECK:   %[[W2:.*]] = linalg.generic {{.*}} ins(%[[M2]], %[[M]] : tensor<8xf32>, tensor<8xf32>)
//       CHECK:   %[[L:.*]] = linalg.generic {{.*}} ins(%[[W1]], %[[L1]], %[[W2]], %[[L2]] : tensor<8xf32>, tensor<8xf32>, tensor<8xf32>, tensor<8xf32>)
//       CHECK:   %[[A:.*]] = linalg.generic {{.*}} ins(%[[W1]], %[[A1]], %[[W2]], %[[A2]] : tensor<8xf32>, tensor<8x4xf32>, tensor<8xf32>, tensor<8x4xf32>)
//       CHECK:   return %[[M]], %[[L]], %[[A]]
func.func @tile_merge(%m1: tensor<8xf32>, %l1: tensor<8xf32>, %a1: tensor<8x4xf32>, %m2: tensor<8xf32>, %l2: tensor<8xf32>, %a2: tensor<8x4xf32>) -> (tensor<8xf32>, tensor<8xf32>, tensor<8x4xf32>) {
  %m, %l, %a = attn.tile_merge (%m1, %l1, %a1), (%m2, %l2, %a2) : tensor<8xf32>, tensor<8x4xf32>
  return %m, %l, %a : tensor<8xf32>, tensor<8xf32>, tensor<8x4xf32>
}

// -----

// Packed rows: valid below G * Sq; the causal test uses the query index
// (row mod Sq).
// CHECK-LABEL: func.func @packed_scores
//  CHECK-SAME:   %[[R:[a-z0-9]+]]: index, %[[C:[a-z0-9]+]]: index, %[[SQ:[a-z0-9]+]]: index, %[[SKV:[a-z0-9]+]]: index)
//       CHECK:   linalg.generic
//       CHECK:     %[[GI:.*]] = arith.addi %[[R]], %{{.*}} : index
//       CHECK:     %[[GJ:.*]] = arith.addi %[[C]], %{{.*}} : index
//       CHECK:     %[[ROWS:.*]] = arith.muli %[[SQ]], %{{.*}} : index
//       CHECK:     arith.cmpi ult, %[[GI]], %[[ROWS]] : index
//       CHECK:     %[[QI:.*]] = arith.remui %[[GI]], %[[SQ]] : index
//       CHECK:     %[[LHS:.*]] = arith.addi %[[GJ]], %[[SQ]] : index
//       CHECK:     %[[RHS:.*]] = arith.addi %[[QI]], %[[SKV]] : index
//       CHECK:     arith.cmpi ule, %[[LHS]], %[[RHS]] : index
func.func @packed_scores(%q: tensor<16x32xbf16>, %k: tensor<8x32xbf16>, %r: index, %c: index, %sq: index, %skv: index) -> tensor<16x8xf32> {
  %s = attn.tile_scores %q, %k at [%r, %c] bounds [%sq, %skv] {causal, packed_heads = 4 : i64, scale = 0.125 : f32} : tensor<16x32xbf16>, tensor<8x32xbf16> -> tensor<16x8xf32>
  return %s : tensor<16x8xf32>
}

// -----

// A packed mask tile reads row p of the tile at head h + p / Sq, query
// p mod Sq.
// CHECK-LABEL: func.func @packed_mask
//  CHECK-SAME:   %[[H:[a-z0-9]+]]: index, %[[R:[a-z0-9]+]]: index, %[[C:[a-z0-9]+]]: index, %[[SQ:[a-z0-9]+]]: index)
//       CHECK:   tensor.generate
//       CHECK:     %[[P:.*]] = arith.addi %[[R]], %{{.*}} : index
//       CHECK:     %[[DH:.*]] = arith.divui %[[P]], %[[SQ]] : index
//       CHECK:     %[[HEAD:.*]] = arith.addi %[[H]], %[[DH]] : index
//       CHECK:     %[[QI:.*]] = arith.remui %[[P]], %[[SQ]] : index
//       CHECK:     arith.select %{{.*}}, %{{.*}}, %[[HEAD]] : index
//       CHECK:     arith.select %{{.*}}, %{{.*}}, %[[QI]] : index
func.func @packed_mask(%m: tensor<?x4x?x?xi1>, %b: index, %h: index, %r: index, %c: index, %sq: index) -> tensor<8x16xi1> {
  %t = attn.load_mask_tile %m[%b, %h, %r, %c] packed %sq : tensor<?x4x?x?xi1> -> tensor<8x16xi1>
  return %t : tensor<8x16xi1>
}

// -----

// tile_lse: m + log(l), -inf for a row that summed nothing.
// CHECK-LABEL: func.func @tile_lse
//  CHECK-SAME:   (%[[M:[a-z0-9]+]]: tensor<8xf32>, %[[L:[a-z0-9]+]]: tensor<8xf32>)
//   CHECK-DAG:   %[[NINF:.*]] = arith.constant 0xFF800000 : f32
//   CHECK-DAG:   %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
//       CHECK:   linalg.generic {{.*}} ins(%[[M]], %[[L]] : tensor<8xf32>, tensor<8xf32>)
//       CHECK:   ^bb0(%[[MI:.*]]: f32, %[[LI:.*]]: f32, %{{.*}}: f32):
//       CHECK:     %[[NONE:.*]] = arith.cmpf oeq, %[[LI]], %[[ZERO]] : f32
//       CHECK:     %[[LOG:.*]] = math.log %[[LI]] : f32
//       CHECK:     %[[SUM:.*]] = arith.addf %[[MI]], %[[LOG]] : f32
//       CHECK:     arith.select %[[NONE]], %[[NINF]], %[[SUM]] : f32
func.func @tile_lse(%m: tensor<8xf32>, %l: tensor<8xf32>) -> tensor<8xf32> {
  %r = attn.tile_lse %m, %l : tensor<8xf32>
  return %r : tensor<8xf32>
}

// -----

// load_paged_tile: row j of the sequence from page table[b, j / 16], slot
// j mod 16; the table is read only below the limit and inside its width,
// and a page number outside the pool reads 0 too.
// CHECK-LABEL: func.func @load_paged_tile
//  CHECK-SAME:   (%[[P:[a-z0-9]+]]: tensor<?x16x2x32xbf16>, %[[T:[a-z0-9]+]]: tensor<?x?xi32>, %[[B:[a-z0-9]+]]: index, %[[H:[a-z0-9]+]]: index, %[[R:[a-z0-9]+]]: index, %[[N:[a-z0-9]+]]: index)
//   CHECK-DAG:   %[[NP:.*]] = tensor.dim %[[P]], %{{.*}} : tensor<?x16x2x32xbf16>
//   CHECK-DAG:   %[[W:.*]] = tensor.dim %[[T]], %{{.*}} : tensor<?x?xi32>
//       CHECK:   tensor.generate
//       CHECK:   ^bb0(%[[I:.*]]: index, %[[D:.*]]: index):
//       CHECK:     %[[J:.*]] = arith.addi %[[R]], %[[I]] : index
//       CHECK:     %[[COL:.*]] = arith.divui %[[J]], %{{.*}} : index
//       CHECK:     %[[INSIDE:.*]] = arith.cmpi ult, %[[COL]], %[[W]] : index
//       CHECK:     %[[BELOW:.*]] = arith.cmpi ult, %[[J]], %[[N]] : index
//       CHECK:     %[[OK:.*]] = arith.andi %[[BELOW]], %[[INSIDE]] : i1
//       CHECK:     %[[PAGE:.*]] = scf.if %[[OK]] -> (index) {
//       CHECK:       %[[E:.*]] = tensor.extract %[[T]][%[[B]], %[[COL]]] : tensor<?x?xi32>
//       CHECK:       arith.index_cast %[[E]] : i32 to index
//       CHECK:     } else {
//       CHECK:       scf.yield %[[NP]] : index
//       CHECK:     %[[VALID:.*]] = arith.cmpi ult, %[[PAGE]], %[[NP]] : index
//       CHECK:     scf.if %[[VALID]] -> (bf16) {
//       CHECK:       %[[SLOT:.*]] = arith.remui %[[J]], %{{.*}} : index
//       CHECK:       tensor.extract %[[P]][%[[PAGE]], %[[SLOT]], %[[H]], %[[D]]] : tensor<?x16x2x32xbf16>
func.func @load_paged_tile(%p: tensor<?x16x2x32xbf16>, %t: tensor<?x?xi32>, %b: index, %h: index, %r: index, %n: index) -> tensor<64x32xbf16> {
  %x = attn.load_paged_tile %p[%t, %b, %h, %r] limit %n : tensor<?x16x2x32xbf16>, tensor<?x?xi32> -> tensor<64x32xbf16>
  return %x : tensor<64x32xbf16>
}
