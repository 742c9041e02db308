module github.com/kafkanat/kafkanat/examples

go 1.26.0

require (
	github.com/kafkanat/kafkanat v0.1.0
	github.com/kafkanat/kafkanat/kafkanattest v0.1.0
)
