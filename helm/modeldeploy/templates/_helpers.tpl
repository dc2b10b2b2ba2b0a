{{/* Chart name, truncated to the 63 characters a label value allows. */}}
{{- define "modeldeploy.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Release-scoped name of the operator's objects. */}}
{{- define "modeldeploy.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "modeldeploy.selectorLabels" -}}
app.kubernetes.io/name: {{ include "modeldeploy.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: operator
{{- end -}}

{{- define "modeldeploy.labels" -}}
{{ include "modeldeploy.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "modeldeploy.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "modeldeploy.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "modeldeploy.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/*
The operator configuration file. watchNamespaces is a top-level value because RBAC depends on it too.
*/}}
{{- define "modeldeploy.config" -}}
{{- $config := deepCopy .Values.config -}}
{{- $_ := set $config "watchNamespaces" .Values.watchNamespaces -}}
{{- /* Model pods' NetworkPolicies admit this release's operator pods (status polling) unless told otherwise. */ -}}
{{- $np := default dict $config.networkPolicy -}}
{{- if kindIs "invalid" $np.operatorPeers -}}
{{- $nsSel := dict "matchLabels" (dict "kubernetes.io/metadata.name" .Release.Namespace) -}}
{{- $podSel := dict "matchLabels" (include "modeldeploy.selectorLabels" . | fromYaml) -}}
{{- $_ := set $np "operatorPeers" (list (dict "namespaceSelector" $nsSel "podSelector" $podSel)) -}}
{{- $_ := set $config "networkPolicy" $np -}}
{{- end -}}
{{- toYaml $config -}}
{{- end -}}

{{/*
RBAC rules for resources that live in the watched namespaces. Exactly what the reconciler needs:
no Secrets, no wildcards. manifests/rbac/cluster-role.yaml holds the same rules for kubectl users.
*/}}
{{- define "modeldeploy.namespacedRules" -}}
# The watched resource: Kopf patches it for its annotations and finalizers, and status separately.
- apiGroups: [serving.modeldeploy.io]
  resources: [modeldeployments]
  verbs: [get, list, watch, patch]
- apiGroups: [serving.modeldeploy.io]
  resources: [modeldeployments/status]
  verbs: [get, patch, update]
# Children carry ownerReferences with blockOwnerDeletion, which the OwnerReferencesPermissionEnforcement
# admission plugin (e.g. on OpenShift) only allows with this.
- apiGroups: [serving.modeldeploy.io]
  resources: [modeldeployments/finalizers]
  verbs: [update]
# Children, applied server-side.
- apiGroups: [""]
  resources: [configmaps, services]
  verbs: [get, list, watch, create, patch, update, delete]
- apiGroups: [apps]
  resources: [deployments]
  verbs: [get, list, watch, create, patch, update, delete]
- apiGroups: [autoscaling]
  resources: [horizontalpodautoscalers]
  verbs: [get, list, watch, create, patch, update, delete]
# KEDA ScaledObjects, for request-rate autoscaling (autoscaling.requestRate.provider: keda).
- apiGroups: [keda.sh]
  resources: [scaledobjects]
  verbs: [get, list, watch, create, patch, update, delete]
- apiGroups: [policy]
  resources: [poddisruptionbudgets]
  verbs: [get, list, watch, create, patch, update, delete]
- apiGroups: [networking.k8s.io]
  resources: [networkpolicies]
  verbs: [get, list, watch, create, patch, update, delete]
# Read-only diagnosis of pods that are not ready.
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
- apiGroups: [kopf.dev]
  resources: [kopfpeerings]
  verbs: [get, list, watch, patch]
{{- end -}}

{{/* RBAC rules for cluster-scoped reads: Kopf's discovery and GPU node diagnosis. */}}
{{- define "modeldeploy.clusterReadRules" -}}
- apiGroups: [""]
  resources: [nodes]
  verbs: [get, list, watch]
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [namespaces]
  verbs: [get, list, watch]
{{- end -}}
