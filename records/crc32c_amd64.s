#include "textflag.h"

// func crc32cFold(state uint32, p []byte, keys *[24]uint64) uint32
//
// Four ZMM accumulators (Z0-Z3) hold 256 bytes: sixteen 128-bit lanes. Each
// round multiplies every lane's two halves by the keys that move them 2048
// bits forward and XORs in the next 256 bytes. At the end the accumulators
// fold into Z3 (512 bits at a time), Z3's lanes into its last one, and the
// CRC instruction takes that 128-bit remainder from a zero state to the state
// the whole input leaves.
TEXT ·crc32cFold(SB), NOSPLIT, $0-44
	MOVL state+0(FP), AX
	MOVQ p_base+8(FP), SI
	MOVQ p_len+16(FP), CX
	MOVQ keys+32(FP), DX

	VMOVDQU64 0(DX), Z16   // fold by 2048 bits
	VMOVDQU64 64(DX), Z17  // by 512
	VMOVDQU64 128(DX), Z18 // lanes 0-2 by 384, 256, 128; lane 3 by nothing

	VMOVDQU64 0(SI), Z0
	VMOVDQU64 64(SI), Z1
	VMOVDQU64 128(SI), Z2
	VMOVDQU64 192(SI), Z3
	VMOVD     AX, X4       // the register state enters XORed into the first 4 bytes
	VPXORQ    Z4, Z0, Z0
	ADDQ      $256, SI
	SUBQ      $256, CX

loop:
	CMPQ       CX, $256
	JB         merge
	VPCLMULQDQ $0x00, Z16, Z0, Z4
	VPCLMULQDQ $0x11, Z16, Z0, Z0
	VPTERNLOGD $0x96, 0(SI), Z4, Z0
	VPCLMULQDQ $0x00, Z16, Z1, Z5
	VPCLMULQDQ $0x11, Z16, Z1, Z1
	VPTERNLOGD $0x96, 64(SI), Z5, Z1
	VPCLMULQDQ $0x00, Z16, Z2, Z6
	VPCLMULQDQ $0x11, Z16, Z2, Z2
	VPTERNLOGD $0x96, 128(SI), Z6, Z2
	VPCLMULQDQ $0x00, Z16, Z3, Z7
	VPCLMULQDQ $0x11, Z16, Z3, Z3
	VPTERNLOGD $0x96, 192(SI), Z7, Z3
	ADDQ       $256, SI
	SUBQ       $256, CX
	JMP        loop

merge:
	VPCLMULQDQ $0x00, Z17, Z0, Z4
	VPCLMULQDQ $0x11, Z17, Z0, Z5
	VPTERNLOGD $0x96, Z4, Z5, Z1
	VPCLMULQDQ $0x00, Z17, Z1, Z4
	VPCLMULQDQ $0x11, Z17, Z1, Z5
	VPTERNLOGD $0x96, Z4, Z5, Z2
	VPCLMULQDQ $0x00, Z17, Z2, Z4
	VPCLMULQDQ $0x11, Z17, Z2, Z5
	VPTERNLOGD $0x96, Z4, Z5, Z3

	VPCLMULQDQ    $0x00, Z18, Z3, Z4
	VPCLMULQDQ    $0x11, Z18, Z3, Z5
	VPXORQ        Z4, Z5, Z4
	VEXTRACTI32X4 $1, Z4, X5
	VEXTRACTI32X4 $2, Z4, X6
	VEXTRACTI32X4 $3, Z3, X7
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
