//go:build !linux

package server

import "errors"

// poller: event mode without epoll runs a goroutine per connection.
type poller struct{}

// loop: see epoll_linux.go.
type loop struct{}

func newPoller(*Server) (*poller, error) { return nil, errors.New("no epoll on this system") }
func (p *poller) add(*evConn) error      { return errors.New("no epoll on this system") }
func (p *poller) remove(*evConn)         {}
func (p *poller) stop()                  {}
