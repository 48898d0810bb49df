/** A minimal Kubernetes API client: kubeconfig files, JSON requests, discovery, apply, node status and drain. */
export {
  createKubeClient,
  KUBE_DEFAULTS,
  KubeApiError,
  type KubeClient,
  KubeConnectError,
  type KubeList,
  type KubeObject,
  type KubeStatus,
  type PatchType,
  type RequestOptions,
  type ResourceInfo,
} from './client.ts'
export {
  type KubeConfig,
  KubeconfigError,
  loadKubeconfig,
  parseKubeconfig,
  rewriteKubeconfigServer,
} from './kubeconfig.ts'
export {
  type Clock,
  cordon,
  type DrainEvent,
  type DrainOptions,
  deleteNode,
  drain,
  listNodes,
  type NodeStatus,
  nodeStatus,
  uncordon,
} from './nodes.ts'
