module kube9-operator/node/pause

go 1.26.0
