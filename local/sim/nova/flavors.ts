/** The flavors servers can have; every seeded server is m1.tiny, flavor "1", as in the recordings. */
export interface Flavor {
  id: string;
  name: string;
  vcpus: number;
  ram: number;
  disk: number;
}

export const FLAVORS: readonly Flavor[] = [
  { id: '1', name: 'm1.tiny', vcpus: 1, ram: 512, disk: 1 },
  { id: '2', name: 'm1.small', vcpus: 1, ram: 2048, disk: 20 },
];

export function findFlavor(id: string): Flavor | undefined {
  return FLAVORS.find((f) => f.id === id);
}
