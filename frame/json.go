package frame

import (
	"encoding/json"
)

// WriteJSON sends v encoded as JSON in one text message (RFC 6455 §5.6:
// JSON text is UTF-8), like gorilla's WriteJSON and coder's wsjson.Write.
// It allocates for the encoding; the message methods stay allocation-free
// for callers that encode into their own buffer.
func WriteJSON(c *Conn, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return c.WriteMessage(OpText, b)
}

// ReadJSON reads the next message and decodes it, as JSON, into v, like
// gorilla's ReadJSON and coder's wsjson.Read. A text or binary message is
// accepted. A message that is not valid JSON for v returns the decoding
// error, and the connection stays open. It allocates the message; for a
// loop without allocation, ReadMessage into a reused buffer and decode
// that.
func ReadJSON(c *Conn, v any) error {
	_, p, err := c.ReadMessage(nil)
	if err != nil {
		return err
	}
	return json.Unmarshal(p, v)
}
