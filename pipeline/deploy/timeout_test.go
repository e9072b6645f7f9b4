package deploy

import (
	"strings"
	"testing"
	"time"
)

func TestParseTimeout(t *testing.T) {
	for in, want := range map[string]time.Duration{"300": 300 * time.Second, "30m": 30 * time.Minute, "90s": 90 * time.Second, "9223372036": 9223372036 * time.Second} {
		if got, err := ParseTimeout(in); err != nil || got != want {
			t.Errorf("ParseTimeout(%q) = %v, %v", in, got, err)
		}
	}
	for in, want := range map[string]string{
		"soon":                 `key "--timeout": "soon" is neither a duration (30m, 90s) nor a number of seconds (for example 30m, 90s or 600 (seconds); the default is 10m0s)`,
		"-5":                   `key "--timeout": "-5" is negative`,
		"-5m":                  `key "--timeout": "-5m" is negative`,
		"0":                    `key "--timeout": "0" would not wait at all`,
		"0s":                   `key "--timeout": "0s" would not wait at all`,
		"9223372037":           `key "--timeout": "9223372037" is longer than hubploy can wait`,
		"99999999999999999":    `key "--timeout": "99999999999999999" is longer than hubploy can wait`,
		"99999999999999999999": `key "--timeout": "99999999999999999999" is longer than hubploy can wait`,
		"9999999999h":          `key "--timeout": "9999999999h" is longer than hubploy can wait`,
		"5x":                   `key "--timeout": "5x" is neither a duration`,
		"":                     `key "--timeout": "" is neither a duration`,
	} {
		if _, err := ParseTimeout(in); err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("ParseTimeout(%q): got %v\nwant %s", in, err, want)
		}
	}
}
