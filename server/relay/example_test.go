package relay_test

import (
	"log"
	"net/http"

	"github.com/ws6455/ws6455/server"
	"github.com/ws6455/ws6455/server/relay"
)

// A Hub serves every WebSocket connection of a Server; the zero value
// uses the defaults.
func Example() {
	srv := &server.Server{Handler: &relay.Hub{}}
	log.Fatal(srv.ListenAndServe(":8080"))
}

// Under net/http, the Server upgrades the requests routed to it and hands
// the connections to the Hub; other paths serve whatever else the site
// has.
func Example_netHTTP() {
	hub := &relay.Hub{QueueSize: 64} // the other fields: their defaults
	mux := http.NewServeMux()
	mux.Handle("/chat", &server.Server{Handler: hub})
	mux.Handle("/", http.FileServer(http.Dir("static")))
	log.Fatal(http.ListenAndServe(":8080", mux))
}
