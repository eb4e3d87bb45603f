package main

import (
	"bytes"
	"io"
	"os"
	"testing"
)

// What is not a terminal has no width: the progress line is then printed
// line by line.
func TestTerminalWidthNotTerminal(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	for _, tt := range []struct {
		name string
		w    io.Writer
	}{{"buffer", &bytes.Buffer{}}, {"pipe", w}, {"null device", null}} {
		if got := terminalWidth(tt.w); got != 0 {
			t.Errorf("%s: width %d, want 0", tt.name, got)
		}
	}
}
