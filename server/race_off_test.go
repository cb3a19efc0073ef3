//go:build !race

package server

// raceEnabled reports a -race build (memory numbers are inflated then).
const raceEnabled = false
