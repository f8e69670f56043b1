//go:build !purego

#include "textflag.h"

// func axpyRows64(z *float32, w *float32, ldw int, idx *int32, val *float32, n int)
//
// z[0:64] += Σ_{i<n} val[i] · w[idx[i]·ldw : idx[i]·ldw+64], the 64 sums
// kept in eight registers of eight lanes while the rows stream by.
TEXT ·axpyRows64(SB), NOSPLIT, $0-48
	MOVQ z+0(FP), DI
	MOVQ w+8(FP), SI
	MOVQ ldw+16(FP), DX
	SHLQ $2, DX
	MOVQ idx+24(FP), R8
	MOVQ val+32(FP), R9
	MOVQ n+40(FP), CX
	VMOVUPS 0(DI), Y0
	VMOVUPS 32(DI), Y1
	VMOVUPS 64(DI), Y2
	VMOVUPS 96(DI), Y3
	VMOVUPS 128(DI), Y4
	VMOVUPS 160(DI), Y5
	VMOVUPS 192(DI), Y6
	VMOVUPS 224(DI), Y7
	TESTQ CX, CX
	JE    rows_done

rows_loop:
	MOVLQSX      (R8), AX
	IMULQ        DX, AX
	VBROADCASTSS (R9), Y8
	VFMADD231PS  0(SI)(AX*1), Y8, Y0
	VFMADD231PS  32(SI)(AX*1), Y8, Y1
	VFMADD231PS  64(SI)(AX*1), Y8, Y2
	VFMADD231PS  96(SI)(AX*1), Y8, Y3
	VFMADD231PS  128(SI)(AX*1), Y8, Y4
	VFMADD231PS  160(SI)(AX*1), Y8, Y5
	VFMADD231PS  192(SI)(AX*1), Y8, Y6
	VFMADD231PS  224(SI)(AX*1), Y8, Y7
	ADDQ         $4, R8
	ADDQ         $4, R9
	DECQ         CX
	JNZ          rows_loop

rows_done:
	VMOVUPS Y0, 0(DI)
	VMOVUPS Y1, 32(DI)
	VMOVUPS Y2, 64(DI)
	VMOVUPS Y3, 96(DI)
	VMOVUPS Y4, 128(DI)
	VMOVUPS Y5, 160(DI)
	VMOVUPS Y6, 192(DI)
	VMOVUPS Y7, 224(DI)
	VZEROUPPER
	RET

// func tanhAffine8(z *float32, bias *float32, n int, c *actConsts, k, mul, add float32)
//
// z[i] = mul·tanh(y/2) + add for y = k·(z[i]+bias[i]) clamped to c's
// bounds, eight at a time (n a multiple of 8): with y = n + f, n an
// integer and |f| <= 1/2, e = 2^y is 2^f from c's polynomial with n
// added to its exponent, and tanh(y·ln2/2) = (e-1)/(e+1).
TEXT ·tanhAffine8(SB), NOSPLIT, $0-44
	MOVQ         z+0(FP), DI
	MOVQ         bias+8(FP), SI
	MOVQ         n+16(FP), CX
	MOVQ         c+24(FP), R8
	VBROADCASTSS k+32(FP), Y10
	VBROADCASTSS mul+36(FP), Y11
	VBROADCASTSS add+40(FP), Y12
	VMOVUPS      256(R8), Y13     // 1
	TESTQ        CX, CX
	JE           act_done

act_loop:
	VMOVUPS     (DI), Y0
	VADDPS      (SI), Y0, Y0
	VMULPS      Y10, Y0, Y0
	VMINPS      0(R8), Y0, Y0      // a NaN becomes the upper bound
	VMAXPS      32(R8), Y0, Y0
	VROUNDPS    $0, Y0, Y1         // n, to nearest
	VSUBPS      Y1, Y0, Y0         // f = y - n
	VCVTPS2DQ   Y1, Y2
	VPSLLD      $23, Y2, Y2        // n in the exponent's place
	VMOVUPS     64(R8), Y3
	VFMADD213PS 96(R8), Y0, Y3
	VFMADD213PS 128(R8), Y0, Y3
	VFMADD213PS 160(R8), Y0, Y3
	VFMADD213PS 192(R8), Y0, Y3
	VFMADD213PS 224(R8), Y0, Y3
	VFMADD213PS Y13, Y0, Y3        // 2^f
	VPADDD      Y2, Y3, Y3         // e = 2^f · 2^n
	VSUBPS      Y13, Y3, Y4        // e - 1
	VADDPS      Y13, Y3, Y5        // e + 1
	VDIVPS      Y5, Y4, Y4
	VFMADD213PS Y12, Y11, Y4       // mul·t + add
	VMOVUPS     Y4, (DI)
	ADDQ        $32, DI
	ADDQ        $32, SI
	SUBQ        $8, CX
	JNZ         act_loop

act_done:
	VZEROUPPER
	RET

// func axpyRows128(z *float32, w *float32, ldw int, idx *int32, val *float32, n int)
//
// axpyRows64 over 128 columns with AVX-512: eight registers of sixteen
// lanes.
TEXT ·axpyRows128(SB), NOSPLIT, $0-48
	MOVQ    z+0(FP), DI
	MOVQ    w+8(FP), SI
	MOVQ    ldw+16(FP), DX
	SHLQ    $2, DX
	MOVQ    idx+24(FP), R8
	MOVQ    val+32(FP), R9
	MOVQ    n+40(FP), CX
	VMOVUPS 0(DI), Z0
	VMOVUPS 64(DI), Z1
	VMOVUPS 128(DI), Z2
	VMOVUPS 192(DI), Z3
	VMOVUPS 256(DI), Z4
	VMOVUPS 320(DI), Z5
	VMOVUPS 384(DI), Z6
	VMOVUPS 448(DI), Z7
	TESTQ   CX, CX
	JE      rows128_done

rows128_loop:
	MOVLQSX      (R8), AX
	IMULQ        DX, AX
	VBROADCASTSS (R9), Z8
	VFMADD231PS  0(SI)(AX*1), Z8, Z0
	VFMADD231PS  64(SI)(AX*1), Z8, Z1
	VFMADD231PS  128(SI)(AX*1), Z8, Z2
	VFMADD231PS  192(SI)(AX*1), Z8, Z3
	VFMADD231PS  256(SI)(AX*1), Z8, Z4
	VFMADD231PS  320(SI)(AX*1), Z8, Z5
	VFMADD231PS  384(SI)(AX*1), Z8, Z6
	VFMADD231PS  448(SI)(AX*1), Z8, Z7
	ADDQ         $4, R8
	ADDQ         $4, R9
	DECQ         CX
	JNZ          rows128_loop

rows128_done:
	VMOVUPS Z0, 0(DI)
	VMOVUPS Z1, 64(DI)
	VMOVUPS Z2, 128(DI)
	VMOVUPS Z3, 192(DI)
	VMOVUPS Z4, 256(DI)
	VMOVUPS Z5, 320(DI)
	VMOVUPS Z6, 384(DI)
	VMOVUPS Z7, 448(DI)
	VZEROUPPER
	RET
