package relay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
)

// This file is the relay's JSON protocol (see the package doc): parsing
// requests with an error that says what was wrong, and writing the
// envelopes. The server's envelopes are written by hand: ids are base64url
// and need no escaping, and the client's "message" and "ref" values are
// copied as the client wrote them (they were validated as JSON by the
// parser), so relaying a message never re-encodes it.

type reqKind uint8

const (
	reqSend reqKind = iota
	reqList
)

type watchMode int8

const (
	watchKeep watchMode = iota // "watch" absent
	watchOn
	watchOff
)

// maxRefLen bounds the JSON text of a client's "ref".
const maxRefLen = 128

// request is a parsed client request.
type request struct {
	kind    reqKind
	to      string
	message []byte // the JSON string as sent, quotes included
	ref     []byte // the JSON string or number as sent; nil if absent
	watch   watchMode
}

// fields allowed per request type, for the "unknown field" error.
var (
	sendFields = []string{"message", "ref", "to", "type"}
	listFields = []string{"ref", "type", "watch"}
)

// parseRequest parses one request. On error the returned request's
// ref is set if the request had a valid one, so the error can carry it.
func parseRequest(p []byte) (request, error) {
	var req request
	if t := bytes.TrimLeft(p, " \t\r\n"); len(t) == 0 || t[0] != '{' {
		return req, errors.New("a request must be a JSON object, like {\"to\":\"<id>\",\"message\":\"hi\"}")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(p, &m); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return req, fmt.Errorf("invalid JSON at byte %d: %s", se.Offset, se.Error())
		}
		return req, fmt.Errorf("invalid JSON: %s", err.Error())
	}
	if raw, ok := m["ref"]; ok {
		if err := validRef(raw); err != nil {
			return req, err
		}
		req.ref = raw
	}
	kind := "send"
	if raw, ok := m["type"]; ok {
		var ok bool
		if kind, ok = jsonString(raw); !ok {
			return req, fmt.Errorf(`"type" must be a string, "send" or "list", not %s`, jsonKind(raw))
		}
	}
	allowed := sendFields
	switch kind {
	case "send":
		req.kind = reqSend
	case "list":
		req.kind = reqList
		allowed = listFields
	default:
		return req, fmt.Errorf(`unknown "type" %s; want "send" (the default) or "list"`, strconv.Quote(clip(kind, 40)))
	}
	if unknown := unknownField(m, allowed); unknown != "" {
		return req, fmt.Errorf("unknown field %s in a %q request (allowed: %s)", strconv.Quote(clip(unknown, 40)), kind, joinQuoted(allowed))
	}
	if req.kind == reqList {
		if raw, ok := m["watch"]; ok {
			switch string(raw) {
			case "true":
				req.watch = watchOn
			case "false":
				req.watch = watchOff
			default:
				return req, fmt.Errorf(`"watch" must be true or false, not %s`, jsonKind(raw))
			}
		}
		return req, nil
	}
	rawTo, ok := m["to"]
	if !ok {
		return req, errors.New(`missing "to": the recipient's id`)
	}
	if req.to, ok = jsonString(rawTo); !ok {
		return req, fmt.Errorf(`"to" must be a string (a client id), not %s`, jsonKind(rawTo))
	}
	msg, ok := m["message"]
	if !ok {
		return req, errors.New(`missing "message"`)
	}
	if len(msg) == 0 || msg[0] != '"' {
		return req, fmt.Errorf(`"message" must be a string, not %s`, jsonKind(msg))
	}
	req.message = msg
	return req, nil
}

// jsonString decodes raw if it is a JSON string (json.Unmarshal would
// accept null too, leaving the string empty).
func jsonString(raw []byte) (string, bool) {
	var s string
	if len(raw) == 0 || raw[0] != '"' || json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// validRef accepts a JSON string or number of at most maxRefLen bytes.
func validRef(raw []byte) error {
	if len(raw) > maxRefLen {
		return fmt.Errorf(`"ref" is longer than %d bytes`, maxRefLen)
	}
	if len(raw) == 0 || (raw[0] != '"' && raw[0] != '-' && (raw[0] < '0' || raw[0] > '9')) {
		return fmt.Errorf(`"ref" must be a string or a number, not %s`, jsonKind(raw))
	}
	return nil
}

// unknownField returns the first key of m (in sorted order) not in allowed.
func unknownField(m map[string]json.RawMessage, allowed []string) string {
	var bad []string
	for k := range m {
		if !slices.Contains(allowed, k) {
			bad = append(bad, k)
		}
	}
	if len(bad) == 0 {
		return ""
	}
	return slices.Min(bad)
}

// jsonKind names the JSON type of a valid JSON value.
func jsonKind(raw []byte) string {
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	default:
		return "a number"
	}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

func joinQuoted(ss []string) string {
	var b []byte
	for i, s := range ss {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = strconv.AppendQuote(b, s)
	}
	return string(b)
}

func tooLargeText(limit int) string {
	return "the request is longer than " + strconv.Itoa(limit) + " bytes (max_message)"
}

// refFromPrefix finds a valid "ref" among the top-level fields that are
// complete in the first bytes of a request that was too long to parse.
func refFromPrefix(p []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(p))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			return nil
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil
		}
		if k == "ref" {
			// A number that ends where the prefix ends may be cut short.
			if validRef(v) != nil || dec.InputOffset() >= int64(len(p)) {
				return nil
			}
			return v
		}
	}
	return nil
}

// shortID returns to if it is short enough to echo in an error, else "".
func shortID(to string) string {
	if len(to) > 64 {
		return ""
	}
	return to
}

// appendJSONString appends s as a JSON string.
func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(dst, b...)
}

func appendWelcome(dst []byte, id string, maxMessage int) []byte {
	dst = append(dst, `{"type":"welcome","id":"`...)
	dst = append(dst, id...)
	dst = append(dst, `","max_message":`...)
	dst = strconv.AppendInt(dst, int64(maxMessage), 10)
	return append(dst, '}')
}

// appendMessage writes the envelope the recipient gets. msg is the
// sender's JSON string, copied as it is.
func appendMessage(dst []byte, from string, msg []byte) []byte {
	dst = slices.Grow(dst, 40+len(from)+len(msg))
	dst = append(dst, `{"type":"message","from":"`...)
	dst = append(dst, from...)
	dst = append(dst, `","message":`...)
	dst = append(dst, msg...)
	return append(dst, '}')
}

func appendAck(dst []byte, to string, ref []byte) []byte {
	dst = append(dst, `{"type":"ack","to":"`...)
	dst = append(dst, to...)
	dst = append(dst, '"')
	return appendRef(dst, ref)
}

func appendError(dst []byte, code, text, to string, ref []byte) []byte {
	dst = append(dst, `{"type":"error","code":"`...)
	dst = append(dst, code...)
	dst = append(dst, `","error":`...)
	dst = appendJSONString(dst, text)
	if to != "" {
		dst = append(dst, `,"to":`...)
		dst = appendJSONString(dst, to)
	}
	return appendRef(dst, ref)
}

// appendRef closes an envelope, with the client's ref if it gave one.
func appendRef(dst, ref []byte) []byte {
	if ref != nil {
		dst = append(dst, `,"ref":`...)
		dst = append(dst, ref...)
	}
	return append(dst, '}')
}

func appendPresence(dst []byte, kind, id string) []byte {
	dst = append(dst, `{"type":"`...)
	dst = append(dst, kind...)
	dst = append(dst, `","id":"`...)
	dst = append(dst, id...)
	return append(dst, `"}`...)
}

func appendOnline(dst []byte, ids []string, ref []byte, resync bool) []byte {
	dst = slices.Grow(dst, 40+25*len(ids))
	dst = append(dst, `{"type":"online","ids":[`...)
	for i, id := range ids {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, id...)
		dst = append(dst, '"')
	}
	dst = append(dst, ']')
	if resync {
		dst = append(dst, `,"resync":true`...)
	}
	return appendRef(dst, ref)
}
