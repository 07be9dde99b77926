// The Prometheus Operator's CustomResourceDefinitions (ServiceMonitor, PodMonitor,
// PrometheusRule), read from the module's example/prometheus-operator-crd: the chart
// tests install them so that the API server validates the chart's monitoring objects.
// Nothing is built from it.
module kube9-operator/controlplane/prometheus-operator

go 1.26.0

require github.com/prometheus-operator/prometheus-operator v0.85.0
