/** One page of a paged list: ListOrders answers and the read model's listOrders alike. */
export interface Page {
  nextPageToken: string;
}

/**
 * Follows next_page_token from the first page ("") to the last (an empty
 * token) and returns every page in order. `fetchPage` gets the token and the
 * page's index (0 first). Fails the test after `maxPages`, so paging that never
 * ends shows as a failure, not a hang.
 */
export async function walkPages<P extends Page>(
  fetchPage: (pageToken: string, index: number) => Promise<P>,
  maxPages = 1_000,
): Promise<P[]> {
  const pages: P[] = [];
  let pageToken = "";
  for (let index = 0; index < maxPages; index++) {
    const page = await fetchPage(pageToken, index);
    pages.push(page);
    if (page.nextPageToken === "") return pages;
    pageToken = page.nextPageToken;
  }
  throw new Error(`paging did not end within ${maxPages} pages`);
}
