package kube

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// Error is a failed dial through the Kubernetes route, or the error a
// port-forward stream reported. DialContext returns it inside a
// *net.OpError with Op "dial" (so Kafka clients retry it as a dial
// error); errors.As finds it there.
//
// Its message names the pod (or service), namespace and port, and what
// failed:
//
//	kube: pod kafka/kafka-0 port 9092: port-forward: forbidden: the API server denied create on pods/portforward in namespace kafka (RBAC): ...
type Error struct {
	// Address is the address dialed.
	Address string
	// Target is what the address names; its Kind is 0 when the address
	// could not be read.
	Target Target
	// Step is what failed: "read the address", "get the pod",
	// "find a ready pod of the service", "port-forward", ...
	Step string
	// Status is the API server's HTTP status when it refused the step
	// (403, 404, ...), 0 otherwise.
	Status int
	Err    error // the cause
}

func (e *Error) Error() string {
	where := strconv.Quote(e.Address)
	if e.Target.Kind != 0 {
		where = e.Target.String()
	}
	return "kube: " + where + ": " + e.Step + ": " + e.Err.Error()
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// ErrForbidden is matched (errors.Is) by errors of requests the API
// server refused with 403 Forbidden: the credentials lack an RBAC
// permission, which the message names.
var ErrForbidden = errors.New("forbidden")

// ErrNotFound is matched (errors.Is) by errors of a pod, service or
// namespace that does not exist.
var ErrNotFound = errors.New("not found")

// ErrNotReady is matched (errors.Is) by errors of a pod that is not
// Running and Ready, or a service without a ready pod.
var ErrNotReady = errors.New("not ready")

// permission is what an API request needs in RBAC terms.
type permission struct {
	verb     string // get, list, create
	resource string // pods, pods/portforward, services, endpointslices.discovery.k8s.io
}

// apiError explains err, the failure of a request needing perm in
// namespace ns, for the messages: 403 names the missing permission, 404
// what does not exist (what, for example `pod "kafka-0"`). Other errors
// are returned as they are, with their status if they carry one.
func apiError(err error, perm permission, ns, what string) (status int, explained error) {
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		return 0, err
	}
	status = int(se.Status().Code)
	switch status {
	case http.StatusForbidden:
		return status, &statusError{sentinel: ErrForbidden, cause: err, text: fmt.Sprintf(
			"forbidden: the API server denied %s on %s in namespace %s (RBAC: grant verb %q on resource %q): %s",
			perm.verb, perm.resource, ns, perm.verb, perm.resource, se.Status().Message)}
	case http.StatusNotFound:
		return status, &statusError{sentinel: ErrNotFound, cause: err, text: fmt.Sprintf(
			"%s not found in namespace %s: %s", what, ns, se.Status().Message)}
	case http.StatusUnauthorized:
		return status, fmt.Errorf("unauthorized: the API server did not accept the credentials: %w", err)
	}
	return status, err
}

// statusError is an explained API error: its text, matching a sentinel
// and unwrapping to the API server's own error.
type statusError struct {
	sentinel error
	cause    error
	text     string
}

func (e *statusError) Error() string   { return e.text }
func (e *statusError) Unwrap() []error { return []error{e.sentinel, e.cause} }
