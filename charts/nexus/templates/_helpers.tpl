{{/* Names, labels, images and the pod block every workload shares (B.101, B.108). */}}

{{- define "nexus.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* The release's prefix: "RELEASE-nexus", or the release name when it already says nexus. */}}
{{- define "nexus.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{/* "FULLNAME-PART", e.g. include "nexus.part" (list . "broker"). */}}
{{- define "nexus.part" -}}
{{- printf "%s-%s" (include "nexus.fullname" (index . 0)) (index . 1) | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "nexus.selectorLabels" -}}
{{- $root := index . 0 -}}
app.kubernetes.io/name: {{ include "nexus.name" $root }}
app.kubernetes.io/instance: {{ $root.Release.Name }}
app.kubernetes.io/component: {{ index . 1 }}
{{- end }}

{{/* Every object's labels: include "nexus.labels" (list . "broker"). */}}
{{- define "nexus.labels" -}}
{{ include "nexus.selectorLabels" . }}
{{- $root := index . 0 }}
app.kubernetes.io/version: {{ $root.Chart.AppVersion | quote }}
app.kubernetes.io/part-of: nexus
app.kubernetes.io/managed-by: {{ $root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" $root.Chart.Name $root.Chart.Version | replace "+" "_" }}
{{- with $root.Values.global.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* An image reference: include "nexus.image" (list . .Values.image). A digest wins over the tag. */}}
{{- define "nexus.image" -}}
{{- $root := index . 0 -}}
{{- $image := index . 1 -}}
{{- $registry := default $image.registry $root.Values.global.imageRegistry -}}
{{- $repo := ternary (printf "%s/%s" $registry $image.repository) $image.repository (ne $registry "") -}}
{{- if $image.digest -}}
{{ $repo }}@{{ $image.digest }}
{{- else -}}
{{ $repo }}:{{ default $root.Chart.AppVersion $image.tag }}
{{- end -}}
{{- end }}

{{- define "nexus.secretName" -}}
{{- default (include "nexus.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{- define "nexus.brokerUrl" -}}
http://{{ include "nexus.part" (list . "broker") }}.{{ .Release.Namespace }}.svc:{{ .Values.broker.service.port }}
{{- end }}

{{/* The Secrets the post-install Job writes the tokens into (B.69). */}}
{{- define "nexus.operatorTokenSecret" -}}
{{ include "nexus.part" (list . "operator-token") }}
{{- end }}
{{- define "nexus.workerTokenSecret" -}}
{{ include "nexus.part" (list . "worker-token") }}
{{- end }}

{{/* The environment of a hook container that calls the broker as the bootstrap token's holder. */}}
{{- define "nexus.hookBrokerEnv" -}}
{{- $env := list (dict "name" "NEXUS_URL" "value" (include "nexus.brokerUrl" .)) (dict "name" "NEXUS_TOKEN" "valueFrom" (dict "secretKeyRef" (dict "name" (include "nexus.secretName" .) "key" "NEXUS_BOOTSTRAP_TOKEN"))) }}
{{- toYaml (concat $env (default (list) .Values.hooks.extraEnv)) }}
{{- end }}

{{- define "nexus.podSecurityContext" -}}
{{- $restricted := dict "runAsNonRoot" true "runAsUser" 1000 "runAsGroup" 1000 "fsGroup" 1000 "seccompProfile" (dict "type" "RuntimeDefault") -}}
{{- toYaml (mergeOverwrite $restricted (deepCopy (default (dict) .podSecurityContext))) }}
{{- end }}

{{- define "nexus.containerSecurityContext" -}}
{{- $restricted := dict "allowPrivilegeEscalation" false "capabilities" (dict "drop" (list "ALL")) "readOnlyRootFilesystem" true "runAsNonRoot" true -}}
{{- toYaml (mergeOverwrite $restricted (deepCopy (default (dict) .containerSecurityContext))) }}
{{- end }}

{{/*
The pod-level part of B.108's block, for a pod spec: include "nexus.podCommon" (list . .Values.broker).
Scheduling, pull secrets, priority and the restricted security context.
*/}}
{{- define "nexus.podCommon" -}}
{{- $root := index . 0 -}}
{{- $v := index . 1 -}}
{{- with $root.Values.global.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with $v.topologySpreadConstraints }}
topologySpreadConstraints:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with (default $root.Values.global.priorityClassName $v.priorityClassName) }}
priorityClassName: {{ . }}
{{- end }}
securityContext:
  {{- include "nexus.podSecurityContext" $v | nindent 2 }}
{{- end }}

{{/* Pod template metadata: include "nexus.podMetadata" (list . .Values.broker "broker" $extraAnnotations). */}}
{{- define "nexus.podMetadata" -}}
{{- $root := index . 0 -}}
{{- $v := index . 1 -}}
{{- $annotations := merge (dict) (default (dict) $v.podAnnotations) (default (dict) (index . 3)) -}}
labels:
  {{- include "nexus.labels" (list $root (index . 2)) | nindent 2 }}
  {{- with $v.podLabels }}
  {{- toYaml . | nindent 2 }}
  {{- end }}
{{- with $annotations }}
annotations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end }}

{{/* The writable /tmp of a read-only root filesystem (B.101), plus the workload's extraVolumes. */}}
{{- define "nexus.volumes" -}}
- name: tmp
  emptyDir: {}
{{- with .extraVolumes }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{- define "nexus.volumeMounts" -}}
- name: tmp
  mountPath: /tmp
{{- with .extraVolumeMounts }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/* env from the chart's Secret: include "nexus.secretEnv" (list . "DATABASE_URL"). */}}
{{- define "nexus.secretEnv" -}}
- name: {{ index . 1 }}
  valueFrom:
    secretKeyRef:
      name: {{ include "nexus.secretName" (index . 0) }}
      key: {{ index . 1 }}
{{- end }}

{{/* A PodDisruptionBudget only for more than one replica (B.108): (list . $values "part" $minReplicas). */}}
{{- define "nexus.pdb" -}}
{{- $root := index . 0 -}}
{{- $v := index . 1 -}}
{{- $part := index . 2 -}}
{{- if and $v.pdb $v.pdb.enabled (gt (int (index . 3)) 1) }}
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: {{ include "nexus.part" (list $root $part) }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "nexus.labels" (list $root $part) | nindent 4 }}
spec:
  {{- /* hasKey, not default: 0 (no voluntary disruption) is a value, not an absence. */}}
  maxUnavailable: {{ if hasKey $v.pdb "maxUnavailable" }}{{ $v.pdb.maxUnavailable }}{{ else }}1{{ end }}
  selector:
    matchLabels:
      {{- include "nexus.selectorLabels" (list $root $part) | nindent 6 }}
{{- end }}
{{- end }}

{{/* Where the Anthropic key is, as a secretKeyRef body; empty when none is given. */}}
{{- define "nexus.anthropicRef" -}}
{{- if .Values.anthropic.existingSecret.name -}}
name: {{ .Values.anthropic.existingSecret.name }}
key: {{ .Values.anthropic.existingSecret.key | default "ANTHROPIC_API_KEY" }}
{{- else if .Values.anthropic.apiKey -}}
{{- if .Values.secrets.existingSecret }}{{ fail "anthropic.apiKey is stored in the chart's Secret, which secrets.existingSecret replaces: use anthropic.existingSecret" }}{{ end -}}
name: {{ include "nexus.fullname" . }}
key: ANTHROPIC_API_KEY
{{- end -}}
{{- end }}

{{/* The operator's rules in a watched namespace; the argument says whether Secrets may be read there (B.61). */}}
{{- define "nexus.operatorRules" -}}
- apiGroups: [nexus.dev]
  resources: [aspects]
  verbs: [get, list, watch, patch, update]
- apiGroups: [nexus.dev]
  resources: [aspects/status]
  verbs: [get, patch, update]
# Owner references with blockOwnerDeletion need update on the owner's finalizers.
- apiGroups: [nexus.dev]
  resources: [aspects/finalizers]
  verbs: [update]
- apiGroups: [""]
  resources: [persistentvolumeclaims, configmaps]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [apps]
  resources: [statefulsets]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [secrets]
  verbs: {{ if . }}[get, list, watch, create, patch, delete]{{ else }}[create, patch, delete]{{ end }}
- apiGroups: ["", events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}

{{/* How the workers are scaled (B.71): keda, hpa or fixed. */}}
{{- define "nexus.workerScaling" -}}
{{- $keda := .Values.workers.autoscaling.keda -}}
{{- if and $keda.enabled (or $keda.force (.Capabilities.APIVersions.Has "keda.sh/v1alpha1")) -}}
keda
{{- else if .Values.prometheusAdapter.enabled -}}
hpa
{{- else -}}
fixed
{{- end -}}
{{- end }}

{{/*
The queue the workers are scaled on (B.71): dispatches waiting or running. It reads the small queue
tables that mirror hand_dispatches.state (B.73), never the whole dispatch history; running ones are
counted so that a worker mid-run is not scaled away. A test runs it on a migrated database.
*/}}
{{- define "nexus.workerQueueQuery" -}}
SELECT (SELECT count(*) FROM hand_queue) + (SELECT count(*) FROM hand_running)
{{- end }}

{{/* A hook's ServiceAccount, Role and RoleBinding, created just before its Job and removed after: (list . "part" "hook-event" rulesYaml). */}}
{{- define "nexus.hookAccess" -}}
{{- $root := index . 0 -}}
{{- $name := include "nexus.part" (list $root (index . 1)) -}}
{{- $meta := dict "helm.sh/hook" (index . 2) "helm.sh/hook-weight" "-10" "helm.sh/hook-delete-policy" "before-hook-creation,hook-succeeded" -}}
apiVersion: v1
kind: ServiceAccount
metadata:
  name: {{ $name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "nexus.labels" (list $root "hooks") | nindent 4 }}
  annotations:
    {{- toYaml $meta | nindent 4 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: {{ $name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "nexus.labels" (list $root "hooks") | nindent 4 }}
  annotations:
    {{- toYaml $meta | nindent 4 }}
rules:
  {{- index . 3 | nindent 2 }}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: {{ $name }}
  namespace: {{ $root.Release.Namespace }}
  labels:
    {{- include "nexus.labels" (list $root "hooks") | nindent 4 }}
  annotations:
    {{- toYaml $meta | nindent 4 }}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: {{ $name }}
subjects:
  - kind: ServiceAccount
    name: {{ $name }}
    namespace: {{ $root.Release.Namespace }}
{{- end }}

{{/*
With operator.watchNamespaces, the operator sees Aspects there only: the default frame (in the
release namespace) and every frameNamespaces entry must be among them, or the frame would never be
reconciled.
*/}}
{{- define "nexus.checkWatchedNamespaces" -}}
{{- $watched := .Values.operator.watchNamespaces | default (list) -}}
{{- if $watched -}}
{{- if and .Values.frame.enabled (not (has .Release.Namespace $watched)) -}}
{{- fail (printf "frame.enabled puts the frame Aspect in the release namespace %q, which operator.watchNamespaces (%s) leaves out: the operator would never reconcile it; add %q to operator.watchNamespaces or set frame.enabled=false" .Release.Namespace (join ", " $watched) .Release.Namespace) -}}
{{- end -}}
{{- range $ns := .Values.operator.frameNamespaces | default (list) -}}
{{- if not (has $ns $watched) -}}
{{- fail (printf "operator.frameNamespaces names %q, which operator.watchNamespaces (%s) leaves out: the operator would never see a frame there; add it to operator.watchNamespaces" $ns (join ", " $watched)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
{{- end }}
