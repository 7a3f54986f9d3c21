// Unit tests of the adapters' AWS SDK calls with aws-sdk-client-mock.

import { GetObjectCommand, NoSuchKey, PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import {
  GetSecretValueCommand,
  ResourceNotFoundException,
  SecretsManagerClient,
} from '@aws-sdk/client-secrets-manager';
import { mockClient } from 'aws-sdk-client-mock';
import { BlobNotFoundError } from '../../lambdas/adapters/blob/blob-store';
import { S3BlobStore } from '../../lambdas/adapters/blob/s3-blob-store';
import { secretsReader } from '../../lambdas/adapters/secrets';

const s3Mock = mockClient(S3Client);
const secretsMock = mockClient(SecretsManagerClient);

beforeEach(() => {
  s3Mock.reset();
  secretsMock.reset();
});

describe('S3BlobStore', () => {
  it('puts and gets bytes under the key', async () => {
    s3Mock.on(PutObjectCommand).resolves({});
    s3Mock
      .on(GetObjectCommand, { Bucket: 'work', Key: 'ticks/a.bin' })
      .resolves({ Body: { transformToByteArray: async () => Uint8Array.from([1, 2, 3]) } as never });
    const store = new S3BlobStore(new S3Client({}), 'work');
    await store.put('ticks/a.bin', Uint8Array.from([1, 2, 3]));
    expect(s3Mock.commandCalls(PutObjectCommand)[0].args[0].input).toMatchObject({
      Bucket: 'work',
      Key: 'ticks/a.bin',
    });
    expect([...(await store.get('ticks/a.bin'))]).toEqual([1, 2, 3]);
  });

  it('turns NoSuchKey into BlobNotFoundError naming the key', async () => {
    s3Mock.on(GetObjectCommand).rejects(new NoSuchKey({ message: 'The specified key does not exist.', $metadata: {} }));
    const store = new S3BlobStore(new S3Client({}), 'work');
    await expect(store.get('scorer-state/all/1')).rejects.toThrow(new BlobNotFoundError('scorer-state/all/1'));
  });

  it('lets other S3 errors through', async () => {
    s3Mock.on(PutObjectCommand).rejects(new Error('AccessDenied'));
    await expect(new S3BlobStore(new S3Client({}), 'work').put('k', new Uint8Array())).rejects.toThrow('AccessDenied');
  });
});

describe('secretsReader', () => {
  it('reads a secret once and serves it from cache', async () => {
    secretsMock.on(GetSecretValueCommand, { SecretId: 'sre-agent/mimir' }).resolves({ SecretString: 'token-1' });
    const read = secretsReader(new SecretsManagerClient({}));
    expect(await read('sre-agent/mimir')).toBe('token-1');
    expect(await read('sre-agent/mimir')).toBe('token-1');
    expect(secretsMock.commandCalls(GetSecretValueCommand)).toHaveLength(1);
  });

  it('names a secret without a string value, and passes through a missing one', async () => {
    secretsMock.on(GetSecretValueCommand, { SecretId: 'binary' }).resolves({ SecretBinary: new Uint8Array([1]) });
    secretsMock
      .on(GetSecretValueCommand, { SecretId: 'gone' })
      .rejects(
        new ResourceNotFoundException({ message: "Secrets Manager can't find the specified secret.", $metadata: {} }),
      );
    const read = secretsReader(new SecretsManagerClient({}));
    await expect(read('binary')).rejects.toThrow('secret "binary" has no string value');
    await expect(read('gone')).rejects.toBeInstanceOf(ResourceNotFoundException);
  });
});
