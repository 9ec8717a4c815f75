// The Kubernetes API test double (TOOLCHAIN.md "Kubernetes without a cluster", B.72, B.96).
export { startKubeDouble, KubeDouble, type KubeDoubleOptions, type Ref, type ListQuery } from './double.js';
export { kubeconfigFor, kubeConfigFor, type KubeconfigOptions } from './kubeconfig.js';
export { type Fault, type FaultRule } from './faults.js';
export { type LoggedRequest, type RequestFilter, type Verb } from './requests.js';
export { type StoreEvent, type Validator } from './store.js';
export { type Obj, type ResourceType, type PrinterColumn } from './types.js';
export { type PropagationPolicy } from './lifecycle.js';
