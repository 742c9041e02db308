// Package testkit holds the in-process proxy servers, the SSH bastion, the
// throwaway CA and the offline resolver that package kafkanattest offers
// to users. They live here, in the core module, so that the core packages'
// own tests can use them without the core module requiring kafkanattest
// (and through it a Kafka client); kafkanattest re-exports them.
//
// Everything listens on loopback only.
package testkit
