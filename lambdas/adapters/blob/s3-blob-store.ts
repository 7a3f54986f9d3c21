// BlobStore on S3: one object per key in the agent's working bucket (lifecycle rules expire old objects).

import { GetObjectCommand, NoSuchKey, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { BlobNotFoundError, type BlobStore } from './blob-store';

export class S3BlobStore implements BlobStore {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
  ) {}

  async put(key: string, body: Uint8Array): Promise<void> {
    await this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body }));
  }

  async get(key: string): Promise<Uint8Array> {
    try {
      const answer = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
      if (!answer.Body) throw new BlobNotFoundError(key);
      return await answer.Body.transformToByteArray();
    } catch (error) {
      if (error instanceof NoSuchKey) throw new BlobNotFoundError(key);
      throw error;
    }
  }
}
