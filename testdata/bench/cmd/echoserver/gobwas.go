package main

import (
	"bufio"
	"io"
	"net"

	"github.com/gobwas/ws"
)

func init() { impls["gobwas"] = serveGobwas }

// serveGobwas uses gobwas/ws's low-level API as its README recommends for
// performance: ws.Upgrade on the raw connection (no net/http), then frames
// read with ws.ReadHeader and written with ws.WriteHeader, echoing frame by
// frame. Reads go through a bufio.Reader and writes through a bufio.Writer
// (one read and one write system call per small message, as with the other
// libraries) and the payload buffer is reused, so the loop does not
// allocate.
func serveGobwas(ln net.Listener) error {
	for {
		nc, err := ln.Accept()
		if err != nil {
			return err
		}
		go func() {
			defer nc.Close()
			if _, err := ws.Upgrade(nc); err != nil {
				return
			}
			br := bufio.NewReaderSize(nc, 4096)
			bw := bufio.NewWriterSize(nc, 4096)
			var payload []byte
			for {
				h, err := ws.ReadHeader(br)
				if err != nil {
					return
				}
				if int64(cap(payload)) < h.Length {
					payload = make([]byte, h.Length)
				}
				payload = payload[:h.Length]
				if _, err := io.ReadFull(br, payload); err != nil {
					return
				}
				if h.Masked {
					ws.Cipher(payload, h.Mask, 0)
					h.Masked = false
				}
				if h.OpCode == ws.OpPing {
					h.OpCode = ws.OpPong
				} else if h.OpCode == ws.OpPong {
					continue
				}
				if err := ws.WriteHeader(bw, h); err != nil {
					return
				}
				if _, err := bw.Write(payload); err != nil {
					return
				}
				if err := bw.Flush(); err != nil {
					return
				}
				if h.OpCode == ws.OpClose {
					return
				}
			}
		}()
	}
}
