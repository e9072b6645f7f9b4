package deploy

import "testing"

func TestSameValues(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b map[string]any
		want bool
	}{
		{"nil and empty", nil, map[string]any{}, true},
		{"int and float", map[string]any{"a": map[string]any{"n": 1}}, map[string]any{"a": map[string]any{"n": 1.0}}, true},
		{"different", map[string]any{"a": "x"}, map[string]any{"a": "y"}, false},
		{"missing key", map[string]any{"a": "x"}, map[string]any{}, false},
		{"not JSON", map[string]any{"a": make(chan int)}, map[string]any{"a": make(chan int)}, false},
	} {
		if got := sameValues(tc.a, tc.b); got != tc.want {
			t.Errorf("%s: got %v", tc.name, got)
		}
	}
}
