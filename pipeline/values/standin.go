package values

import (
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
)

// Walk calls visit with every scalar of vals and the keys that lead to it, in key order;
// the items of a list are visited with the list's keys.
func Walk(vals map[string]any, visit func(keys []string, leaf any)) {
	walkValue(vals, nil, visit)
}

func walkValue(v any, keys []string, visit func([]string, any)) {
	switch t := v.(type) {
	case map[string]any:
		for _, k := range sortedKeys(t) {
			walkValue(t[k], append(slices.Clip(keys), k), visit)
		}
	case []any:
		for _, c := range t {
			walkValue(c, keys, visit)
		}
	default:
		visit(keys, v)
	}
}

func sortedKeys(m map[string]any) []string { return slices.Sorted(maps.Keys(m)) }

// Standin returns a copy of vals in which every scalar that secret picks is replaced by
// a stand-in of its kind: a string by a string of the same length whose letters and
// digits are others of their class (hex stays hex, case stays case), other characters
// kept, so that the chart renders the same way; a number by another number; booleans
// and null are kept, since they reveal nothing. Equal secrets get equal stand-ins.
// Rendering vals and the stand-in and comparing tells what the templates made of the
// secrets (see mask.Derived). Show stand-ins to no one all the same: one could match a
// secret's length and punctuation.
func Standin(vals map[string]any, secret func(keys []string, leaf any) bool) map[string]any {
	s := &standins{secret: secret, made: map[string]any{}}
	return s.value(vals, nil).(map[string]any)
}

// Scrambled is Standin with the other characters of strings changed too (to letters;
// line breaks are kept): it tells what the templates made of a secret's punctuation
// and spaces alone, such as its first characters cut off, but the chart may refuse it.
func Scrambled(vals map[string]any, secret func(keys []string, leaf any) bool) map[string]any {
	s := &standins{secret: secret, made: map[string]any{}, scramble: true}
	return s.value(vals, nil).(map[string]any)
}

type standins struct {
	secret   func([]string, any) bool
	made     map[string]any // by the secret's type and value
	scramble bool
}

func (s *standins) value(v any, keys []string) any {
	switch t := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(t))
		for _, k := range sortedKeys(t) { // in order, so the stand-ins are the same every time
			out[k] = s.value(t[k], append(slices.Clip(keys), k))
		}
		return out
	case []any:
		out := make([]any, len(t))
		for i, c := range t {
			out[i] = s.value(c, keys)
		}
		return out
	case nil, bool:
		return v
	}
	if !s.secret(keys, v) {
		return v
	}
	id := fmt.Sprintf("%T:%v", v, v)
	if made, ok := s.made[id]; ok {
		return made
	}
	made := s.standinFor(v, len(s.made))
	s.made[id] = made
	return made
}

// standinFor is the stand-in of the n-th different secret.
func (s *standins) standinFor(v any, n int) any {
	switch t := v.(type) {
	case int:
		return t ^ 1
	case int64:
		return t ^ 1
	case uint64:
		return t ^ 1
	case float64:
		if math.IsInf(t, 0) || math.IsNaN(t) {
			return 0.5
		}
		return t + 1
	}
	str := fmt.Sprint(v)
	out := []rune(str)
	for i, c := range out {
		// 1 to 5: never a multiple of a class's size (6, 10, 20), so every letter and
		// digit changes; random, so a stand-in tells nothing of its secret.
		shift := rune(1 + rand.IntN(5))
		switch {
		case '0' <= c && c <= '9':
			out[i] = '0' + (c-'0'+shift)%10
		case 'a' <= c && c <= 'f':
			out[i] = 'a' + (c-'a'+shift)%6
		case 'g' <= c && c <= 'z':
			out[i] = 'g' + (c-'g'+shift)%20
		case 'A' <= c && c <= 'F':
			out[i] = 'A' + (c-'A'+shift)%6
		case 'G' <= c && c <= 'Z':
			out[i] = 'G' + (c-'G'+shift)%20
		case s.scramble && c != '\n':
			out[i] = 'g' + shift
		}
	}
	if string(out) == str { // no ASCII letter or digit to change
		return fmt.Sprintf("hubploy-standin-%d", n)
	}
	return string(out)
}

// secretSet is the set of SecretStrings.
func (r *Result) secretSet() map[string]bool {
	set := make(map[string]bool, len(r.SecretStrings))
	for _, s := range r.SecretStrings {
		set[s] = true
	}
	return set
}

// IsSecret picks the scalars of the values that equal a value of a secret file (nil
// and booleans never do: they reveal nothing).
func (r *Result) IsSecret() func(keys []string, leaf any) bool {
	set := r.secretSet()
	return func(_ []string, leaf any) bool {
		switch leaf.(type) {
		case nil, bool:
			return false
		}
		return set[fmt.Sprint(leaf)]
	}
}

// SecretKeys are the key paths at which the values hold a secret (a list's path for a
// secret in a list), sorted: where to look for secrets in a later revision's values,
// such as a live release's, whatever they are then.
func (r *Result) SecretKeys() [][]string {
	isSecret := r.IsSecret()
	var out [][]string
	Walk(r.Values, func(keys []string, leaf any) {
		if isSecret(keys, leaf) && !slices.ContainsFunc(out, func(k []string) bool { return slices.Equal(k, keys) }) {
			out = append(out, keys)
		}
	})
	slices.SortFunc(out, func(a, b []string) int { return strings.Compare(strings.Join(a, "\x00"), strings.Join(b, "\x00")) })
	return out
}

// LookupKeys returns the value at keys and whether it exists.
func LookupKeys(m map[string]any, keys []string) (any, bool) {
	var cur any = m
	for _, k := range keys {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = mm[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// Secrets are the scalars of vals that isSecret picks, as strings (nil and booleans
// never: they reveal nothing).
func Secrets(vals map[string]any, isSecret func(keys []string, leaf any) bool) []string {
	var out []string
	Walk(vals, func(keys []string, leaf any) {
		switch leaf.(type) {
		case nil, bool:
		default:
			if isSecret(keys, leaf) {
				out = append(out, fmt.Sprint(leaf))
			}
		}
	})
	return out
}
