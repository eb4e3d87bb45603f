//go:build !linux

package fakeapi

import "errors"

// The server's loop is built on epoll: elsewhere New fails.

type loop struct{ done chan struct{} }

func (*loop) wake() {}

type conn struct{}

type webhook struct{}

func startLoop(*Server) (*loop, string, error) {
	return nil, "", errors.New("the fake Bot API server needs Linux (epoll)")
}
