/** The body of POST /v1/operator/register: these four fields and nothing else leave the cluster. */
export interface RegistrationRequestDto {
  operatorVersion: string;
  clusterIdentifier: string;
  kubernetesVersion: string;
  approximateNodeCount: number;
}
