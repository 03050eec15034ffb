/**
 * The service catalog in a scoped token, laid out like k01 (services with endpoints carrying id,
 * interface, region_id, url, region), pointing at this simulator. The compute endpoint is
 * registered as `.../compute/v2.1/%(tenant_id)s` and, as Keystone does, rendered with the token's
 * project id.
 */
import { stableHexId } from '../ids.js';
import type { JsonValue } from '../python.js';

export const REGION = 'RegionOne';

interface ServiceSpec {
  type: string;
  name: string;
  url: string;
  interfaces: string[];
}

/** Keystone's format_url: `%(tenant_id)s`, `$(tenant_id)s` and the project_id/user_id variants. */
export function renderEndpointUrl(template: string, projectId: string, userId: string): string {
  return template
    .replace(/[%$]\((tenant_id|project_id)\)s/g, projectId)
    .replace(/[%$]\(user_id\)s/g, userId);
}

/** The compute endpoint as registered in the simulated Keystone. */
export function computeEndpointTemplate(baseUrl: string): string {
  return `${baseUrl}/compute/v2.1/%(tenant_id)s`;
}

export function buildCatalog(baseUrl: string, projectId: string, userId: string): JsonValue {
  const services: ServiceSpec[] = [
    { type: 'identity', name: 'keystone', url: `${baseUrl}/identity/v3`, interfaces: ['public', 'internal'] },
    {
      type: 'compute',
      name: 'nova',
      url: renderEndpointUrl(computeEndpointTemplate(baseUrl), projectId, userId),
      interfaces: ['public', 'internal', 'admin'],
    },
    { type: 'image', name: 'glance', url: `${baseUrl}/image`, interfaces: ['public', 'internal'] },
  ];
  return services.map((s) => ({
    endpoints: s.interfaces.map((iface) => ({
      id: stableHexId(`endpoint/${s.type}/${iface}`),
      interface: iface,
      region_id: REGION,
      url: s.url,
      region: REGION,
    })),
    id: stableHexId(`service/${s.type}`),
    type: s.type,
    name: s.name,
  }));
}
