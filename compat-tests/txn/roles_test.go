package txn

// childRoles are the pipeline processes run from this test binary.
var childRoles = map[string]func() error{
	"confluent-pipeline": confluentPipeline,
	"sarama-pipeline":    saramaPipeline,
	"franz-pipeline":     franzPipeline,
}
