/** A stored R2 blob: what the cache remembers and what a job serves (domain/job.ts ArtifactRef extends it). */
export interface BlobRef {
  r2Key: string;
  contentType: string;
  bytes: number;
  sha256: string;
  width?: number;
  height?: number;
  meta?: Record<string, unknown>;
}
