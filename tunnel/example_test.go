package tunnel_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net/url"

	"github.com/kafkanat/kafkanat/internal/testkit"
	"github.com/kafkanat/kafkanat/tunnel"
)

// A proxy that wants credentials refuses a route without them; the error
// names the route and says what to do, and the status is at hand.
func ExampleNewHTTP() {
	proxy, err := testkit.NewHTTPProxy(testkit.WithCredentials("alice", "s3cret"))
	if err != nil {
		log.Fatal(err)
	}
	defer proxy.Close()

	u, err := url.Parse("http://" + proxy.Addr())
	if err != nil {
		log.Fatal(err)
	}
	d, err := tunnel.NewHTTP(u, nil, nil)
	if err != nil {
		log.Fatal(err)
	}
	_, err = d.DialContext(context.Background(), "tcp", "b1.kafka.internal.invalid:9092")
	var se *tunnel.StatusError
	if errors.As(err, &se) {
		fmt.Println(se.StatusCode)
		fmt.Println(se)
	}
	// Output:
	// 407
	// proxy replied "HTTP/1.1 407 Proxy Authentication Required" (the proxy requires credentials; give user:password in the route URL)
}
