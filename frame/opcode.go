package frame

import "strconv"

// Opcode is the 4-bit frame opcode of RFC 6455 §5.2.
type Opcode byte

// Opcodes defined by RFC 6455 §5.2 and §11.8.
const (
	OpContinuation Opcode = 0x0 // §5.4: continuation of a fragmented message
	OpText         Opcode = 0x1 // §5.6: UTF-8 text
	OpBinary       Opcode = 0x2 // §5.6: arbitrary bytes
	OpClose        Opcode = 0x8 // §5.5.1
	OpPing         Opcode = 0x9 // §5.5.2
	OpPong         Opcode = 0xA // §5.5.3
)

// IsControl reports whether o is a control opcode (RFC 6455 §5.5: the most
// significant bit of the opcode is set). Reserved control opcodes 0xB-0xF are
// control opcodes too.
func (o Opcode) IsControl() bool { return o&0x8 != 0 }

// IsData reports whether o is a non-control opcode, including continuation
// and the reserved non-control opcodes 0x3-0x7.
func (o Opcode) IsData() bool { return o&0x8 == 0 }

// IsReserved reports whether o is one of the opcodes RFC 6455 §5.2 reserves
// for future use (0x3-0x7 and 0xB-0xF). Receiving one without a negotiated
// extension that defines it fails the connection with 1002.
func (o Opcode) IsReserved() bool {
	switch o {
	case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
		return false
	}
	return true
}

// String returns the opcode's name as RFC 6455 §11.8 registers it.
func (o Opcode) String() string {
	switch o {
	case OpContinuation:
		return "continuation"
	case OpText:
		return "text"
	case OpBinary:
		return "binary"
	case OpClose:
		return "close"
	case OpPing:
		return "ping"
	case OpPong:
		return "pong"
	}
	return "reserved(0x" + strconv.FormatUint(uint64(o), 16) + ")"
}
