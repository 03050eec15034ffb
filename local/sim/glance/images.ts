/** The images Glance lists and Nova rebuilds onto. */
import { createHash } from 'node:crypto';
import type { ImageSpec } from '../options.js';
import type { JsonObject } from '../python.js';

export class ImageCatalog {
  private readonly byId: Map<string, ImageSpec>;

  constructor(
    images: ImageSpec[],
    private readonly ownerProjectId: string,
  ) {
    this.byId = new Map(images.map((i) => [i.id.toLowerCase(), i]));
  }

  /** An image by id (Glance ids compare case-insensitively, like Nova's lenient UUID check). */
  get(id: string): ImageSpec | undefined {
    return this.byId.get(id.toLowerCase()) ?? this.byId.get(normalizeUuid(id));
  }

  list(): ImageSpec[] {
    return [...this.byId.values()];
  }

  /** Glance v2's image view, keys in the order Glance writes them (14a). */
  view(image: ImageSpec): JsonObject {
    const checksum = createHash('md5').update(image.id).digest('hex');
    return {
      name: image.name,
      disk_format: 'qcow2',
      container_format: 'bare',
      visibility: 'public',
      size: 21430272,
      virtual_size: 117440512,
      status: image.status,
      checksum,
      protected: false,
      min_ram: 0,
      min_disk: 0,
      owner: this.ownerProjectId,
      os_hidden: false,
      os_hash_algo: 'sha512',
      os_hash_value: createHash('sha512').update(image.id).digest('hex'),
      id: image.id,
      created_at: '2026-11-27T02:00:00Z',
      updated_at: '2026-11-27T02:00:00Z',
      tags: [],
      self: `/v2/images/${image.id}`,
      file: `/v2/images/${image.id}/file`,
      schema: '/v2/schemas/image',
    };
  }
}

/** `A245...` or the hyphen-less form → the canonical lower-case UUID Nova passes to Glance. */
export function normalizeUuid(id: string): string {
  const hex = id.replaceAll('urn:', '').replaceAll('uuid:', '').replace(/^[{}]+|[{}]+$/g, '').replaceAll('-', '').toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) return id.toLowerCase();
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
