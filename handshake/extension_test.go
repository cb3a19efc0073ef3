package handshake

import (
	"reflect"
	"testing"
)

func TestParseExtensions_RFC6455_9_1(t *testing.T) {
	pmd := func(params ...Param) Extension { return Extension{Name: "permessage-deflate", Params: params} }
	tests := []struct {
		name   string
		values []string
		want   []Extension
		bad    bool
	}{
		{"none", nil, nil, false},
		{"single", []string{"foo"}, []Extension{{Name: "foo"}}, false},
		// §9.1: "foo" plus "bar; baz=2" on two lines equals "foo, bar; baz=2".
		{"rfc split lines", []string{"foo", "bar; baz=2"}, []Extension{{Name: "foo"}, {Name: "bar", Params: []Param{{"baz", "2"}}}}, false},
		{"rfc joined", []string{"foo, bar; baz=2"}, []Extension{{Name: "foo"}, {Name: "bar", Params: []Param{{"baz", "2"}}}}, false},
		{"rfc mux example", []string{"mux; max-channels=4; flow-control, deflate-stream"},
			[]Extension{{Name: "mux", Params: []Param{{"max-channels", "4"}, {"flow-control", ""}}}, {Name: "deflate-stream"}}, false},
		{"pmd", []string{"permessage-deflate; client_max_window_bits"}, []Extension{pmd(Param{"client_max_window_bits", ""})}, false},
		{"no spaces", []string{"permessage-deflate;server_max_window_bits=10;client_no_context_takeover"},
			[]Extension{pmd(Param{"server_max_window_bits", "10"}, Param{"client_no_context_takeover", ""})}, false},
		{"lots of whitespace", []string{" \tpermessage-deflate \t; \tserver_max_window_bits \t= \t10 \t,\t foo "},
			[]Extension{pmd(Param{"server_max_window_bits", "10"}), {Name: "foo"}}, false},
		{"quoted value", []string{`permessage-deflate; server_max_window_bits="10"`}, []Extension{pmd(Param{"server_max_window_bits", "10"})}, false},
		{"quoted-pair", []string{`foo; a="b\c"`}, []Extension{{Name: "foo", Params: []Param{{"a", "bc"}}}}, false},
		{"empty elements", []string{", foo ,, bar,"}, []Extension{{Name: "foo"}, {Name: "bar"}}, false},
		{"empty value line", []string{""}, nil, false},
		{"repeated params kept", []string{"foo; a; a=1"}, []Extension{{Name: "foo", Params: []Param{{"a", ""}, {"a", "1"}}}}, false},

		{"quoted not token", []string{`foo; a="b c"`}, nil, true},
		{"quoted empty", []string{`foo; a=""`}, nil, true},
		{"quoted separator", []string{`foo; a="b,c"`}, nil, true},
		{"unterminated quote", []string{`foo; a="bc`}, nil, true},
		{"unterminated quoted-pair", []string{`foo; a="bc\`}, nil, true},
		{"missing value", []string{"foo; a="}, nil, true},
		{"missing value before next", []string{"foo; a=; b"}, nil, true},
		{"empty param", []string{"foo;"}, nil, true},
		{"double semicolon", []string{"foo;; a"}, nil, true},
		{"param first", []string{"; a"}, nil, true},
		{"name not token", []string{"fo/o"}, nil, true},
		{"space inside name", []string{"foo bar"}, nil, true},
		{"value with separator", []string{"foo; a=b/c"}, nil, true},
		{"two equals", []string{"foo; a=b=c"}, nil, true},
		{"non-ASCII", []string{"f\xc3\xb6o"}, nil, true},
		{"good line then bad line", []string{"foo", "bar;"}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseExtensions(tt.values)
			if tt.bad {
				if err == nil {
					t.Fatalf("accepted %q as %v", tt.values, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v\nwant %#v", got, tt.want)
			}
			// Formatting and parsing again gives the same list.
			again, err := ParseExtensions([]string{FormatExtensions(got)})
			if err != nil || !reflect.DeepEqual(again, got) {
				t.Fatalf("round trip of %q: %v %v", FormatExtensions(got), again, err)
			}
		})
	}
}

func TestExtensionString(t *testing.T) {
	e := Extension{Name: "permessage-deflate", Params: []Param{{"server_no_context_takeover", ""}, {"client_max_window_bits", "10"}}}
	if got, want := e.String(), "permessage-deflate; server_no_context_takeover; client_max_window_bits=10"; got != want {
		t.Fatalf("%q, want %q", got, want)
	}
	if got := FormatExtensions([]Extension{{Name: "a"}, {Name: "b"}}); got != "a, b" {
		t.Fatal(got)
	}
}
