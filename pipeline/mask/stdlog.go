package mask

import (
	"io"
	"log"
	"os"
	"sync"
)

// StdLog is the standard logger's writer from the start of any program that uses this
// package. helm's engine and chartutil print through that logger messages that can
// quote values: a template's fail message and missing required values while linting,
// values that cannot be merged. StdLog masks each line with every Masker added to it,
// so it hides every release's secrets the process knows, and writes it to os.Stderr.
var StdLog = NewSink(os.Stderr)

func init() { log.SetOutput(StdLog) }

// Sink masks what is written to it with a growing set of maskers.
type Sink struct {
	mu      sync.Mutex
	out     io.Writer
	maskers []*Masker
	quiet   int
}

// NewSink makes a Sink that writes to out.
func NewSink(out io.Writer) *Sink { return &Sink{out: out} }

// SetOutput makes s write to out from now on.
func (s *Sink) SetOutput(out io.Writer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.out = out
}

// Add masks later writes with m too.
func (s *Sink) Add(m *Masker) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.maskers = append(s.maskers, m)
}

// Quiet drops what is written while f runs: helm's messages about a render made with
// stand-in values would only repeat, with the stand-ins, those of the real one.
func (s *Sink) Quiet(f func()) {
	s.mu.Lock()
	s.quiet++
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		s.quiet--
		s.mu.Unlock()
	}()
	f()
}

// Write masks p (the standard logger writes one line per call) and passes it on.
func (s *Sink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.quiet > 0 {
		return len(p), nil
	}
	text := string(p)
	for _, m := range s.maskers {
		text = m.String(text)
	}
	if _, err := io.WriteString(s.out, text); err != nil {
		return 0, err
	}
	return len(p), nil
}
