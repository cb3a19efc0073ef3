package main

import (
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// Spec is Autobahn's fuzzingclient spec file (wstest -m fuzzingclient -s
// fuzzingclient.json):
//
//	{
//	  "outdir": "./reports/servers",
//	  "options": {"failByDrop": false},
//	  "servers": [{"agent": "ws6455", "url": "ws://127.0.0.1:9001", "options": {}}],
//	  "cases": ["*"],
//	  "exclude-cases": ["12.*", "13.*"],
//	  "exclude-agent-cases": {}
//	}
type Spec struct {
	Outdir            string              `json:"outdir"`
	Options           map[string]any      `json:"options"`
	Servers           []SpecServer        `json:"servers"`
	Cases             []string            `json:"cases"`
	ExcludeCases      []string            `json:"exclude-cases"`
	ExcludeAgentCases map[string][]string `json:"exclude-agent-cases"`
}

// SpecServer is one server to test.
type SpecServer struct {
	Agent     string         `json:"agent"`
	URL       string         `json:"url"`
	Options   map[string]any `json:"options"`
	Hostname  string         `json:"hostname"` // TLS server name (SNI)
	Origin    string         `json:"origin"`
	Protocols []string       `json:"protocols"`
}

func loadSpec(path string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var s Spec
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &s, nil
}

// splitList splits a comma-separated flag value.
func splitList(s string) []string {
	var out []string
	for p := range strings.SplitSeq(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// globRE turns an Autobahn pattern ('*' is any run of characters) into an
// anchored regular expression, as exclude-agent-cases uses them.
func globRE(p string) *regexp.Regexp {
	return regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(p), `\*`, ".*") + "$")
}

// agentExcludes returns the case ids exclude-agent-cases removes for agent.
func (s *Spec) agentExcluded(agent, id string) bool {
	for ap, cps := range s.ExcludeAgentCases {
		if !globRE(ap).MatchString(agent) {
			continue
		}
		for _, cp := range cps {
			if globRE(cp).MatchString(id) {
				return true
			}
		}
	}
	return false
}
