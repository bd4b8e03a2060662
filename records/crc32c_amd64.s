#include "textflag.h"

// FOLD moves each 128-bit lane of acc forward by the distance whose key
// pair is in k (low half times k's low key, high half times its high
// key) and XORs in next: acc = acc·x^d ⊕ next, modulo P. tmp is clobbered.
#define FOLD(k, acc, tmp, next) \
	VPCLMULQDQ $0x00, k, acc, tmp \
	VPCLMULQDQ $0x11, k, acc, acc \
	VPTERNLOGD $0x96, next, tmp, acc

// func crc32cFold(state uint32, p []byte, keys *[12]uint64) uint32
//
// Four ZMM accumulators (Z0-Z3) hold 256 bytes: sixteen 128-bit lanes. Each
// round folds every lane 2048 bits forward onto the next 256 bytes. At the
// end the accumulators fold into one (512 bits at a time), its lanes into
// its last one, and the CRC instruction takes that 128-bit remainder from a
// zero state to the state the whole input leaves.
TEXT ·crc32cFold(SB), NOSPLIT, $0-44
	MOVL state+0(FP), AX
	MOVQ p_base+8(FP), SI
	MOVQ p_len+16(FP), CX
	MOVQ keys+32(FP), DX

	VBROADCASTI32X4 0(DX), Z16  // fold by 2048 bits, in every lane
	VBROADCASTI32X4 16(DX), Z17 // by 512
	VMOVDQU64       32(DX), Z18 // lanes 0-2 by 384, 256, 128; lane 3 by nothing

	VMOVDQU64 0(SI), Z0
	VMOVDQU64 64(SI), Z1
	VMOVDQU64 128(SI), Z2
	VMOVDQU64 192(SI), Z3
	VMOVD     AX, X4       // the register state enters XORed into the first 4 bytes
	VPXORQ    Z4, Z0, Z0
	ADDQ      $256, SI
	SUBQ      $256, CX

loop:
	CMPQ CX, $256
	JB   merge
	FOLD(Z16, Z0, Z4, 0(SI))
	FOLD(Z16, Z1, Z5, 64(SI))
	FOLD(Z16, Z2, Z6, 128(SI))
	FOLD(Z16, Z3, Z7, 192(SI))
	ADDQ $256, SI
	SUBQ $256, CX
	JMP  loop

merge:
	FOLD(Z17, Z0, Z4, Z1)
	FOLD(Z17, Z0, Z4, Z2)
	FOLD(Z17, Z0, Z4, Z3)

	VPCLMULQDQ    $0x00, Z18, Z0, Z4
	VPCLMULQDQ    $0x11, Z18, Z0, Z5
	VPXORQ        Z4, Z5, Z4
	VEXTRACTI32X4 $1, Z4, X5
	VEXTRACTI32X4 $2, Z4, X6
	VEXTRACTI32X4 $3, Z0, X7
	VPXOR         X4, X5, X5
	VPXOR         X6, X7, X7
	VPXOR         X5, X7, X7
	MOVQ          X7, R8
	PEXTRQ        $1, X7, R9
	VZEROUPPER
	XORL          AX, AX
	CRC32Q        R8, AX
	CRC32Q        R9, AX
	MOVL          AX, ret+40(FP)
	RET
